"""cluster.metrics against values worked out by hand on small examples."""

from __future__ import annotations

import math

import pytest

from cluster.metrics import bcubed, clustering, pair_scores, pairwise, pairwise_from_clusters

# Example 1: gold [a,a,b,b,b], pred [1,1,1,2,2]; items 0..4.
#   pred 1 = {0,1,2}, pred 2 = {3,4}; gold a = {0,1}, gold b = {2,3,4}.
#   B-cubed precision, per item |pred ∩ gold| / |pred|:  2/3, 2/3, 1/3, 2/2, 2/2
#       P = (2/3 + 2/3 + 1/3 + 1 + 1) / 5 = (11/3) / 5 = 11/15
#   B-cubed recall, per item |pred ∩ gold| / |gold|:     2/2, 2/2, 1/3, 2/3, 2/3
#       R = (1 + 1 + 1/3 + 2/3 + 2/3) / 5 = 11/15, so F1 = 11/15
#   Pairs (10 in all): same gold (0,1) (2,3) (2,4) (3,4); same pred (0,1) (0,2) (1,2) (3,4)
#       tp = 2 [(0,1), (3,4)], fp = 2, fn = 2: P = R = F1 = 1/2
#   ARI: contingency a/1 = 2, b/1 = 1, b/2 = 2; sum C(n_ij, 2) = 1 + 0 + 1 = 2;
#       rows C(2,2) + C(3,2) = 4; columns C(3,2) + C(2,2) = 4; C(5,2) = 10;
#       expected 4 * 4 / 10 = 1.6, max (4 + 4) / 2 = 4: ARI = (2 - 1.6) / (4 - 1.6) = 1/6
#   NMI (arithmetic mean): MI = 2/5 ln(5/3) + 1/5 ln(5/9) + 2/5 ln(5/3);
#       H(gold) = H(pred) = -(2/5 ln 2/5 + 3/5 ln 3/5), so NMI = MI / H.
GOLD_1 = ["a", "a", "b", "b", "b"]
PRED_1 = [1, 1, 1, 2, 2]

# Example 2: gold [x,x,x,y], pred [1,1,2,2].
#   pred 1 = {0,1}, pred 2 = {2,3}; gold x = {0,1,2}, gold y = {3}.
#   P per item: 2/2, 2/2, 1/2, 1/2 -> P = 3/4
#   R per item: 2/3, 2/3, 1/3, 1/1 -> R = (8/3) / 4 = 2/3
#   F1 = 2 * 3/4 * 2/3 / (3/4 + 2/3) = 1 / (17/12) = 12/17
#   Pairs: same gold (0,1) (0,2) (1,2); same pred (0,1) (2,3): tp 1, fp 1, fn 2
#       P = 1/2, R = 1/3, F1 = 2 * 1/6 / (5/6) = 2/5
GOLD_2 = ["x", "x", "x", "y"]
PRED_2 = [1, 1, 2, 2]


def test_bcubed_example_1() -> None:
    b = bcubed(GOLD_1, PRED_1)
    assert b["precision"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5)
    assert b["precision"] == pytest.approx(11 / 15)
    assert b["recall"] == pytest.approx((1 + 1 + 1 / 3 + 2 / 3 + 2 / 3) / 5)
    assert b["f1"] == pytest.approx(11 / 15)


def test_bcubed_example_2_asymmetric() -> None:
    b = bcubed(GOLD_2, PRED_2)
    assert b["precision"] == pytest.approx(3 / 4)
    assert b["recall"] == pytest.approx(2 / 3)
    assert b["f1"] == pytest.approx(12 / 17)
    # Swapping gold and pred swaps precision and recall.
    swapped = bcubed(PRED_2, GOLD_2)
    assert swapped["precision"] == pytest.approx(2 / 3)
    assert swapped["recall"] == pytest.approx(3 / 4)


def test_bcubed_all_singletons_and_one_cluster() -> None:
    # gold [a,a,b]; all singletons: every item alone -> P = 1;
    #   R per item 1/2, 1/2, 1 -> 2/3; F1 = 2 * 2/3 / (5/3) = 4/5
    s = bcubed(["a", "a", "b"], [1, 2, 3])
    assert s["precision"] == pytest.approx(1.0)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(4 / 5)
    # one cluster for everything: P per item 2/3, 2/3, 1/3 -> 5/9; R = 1; F1 = 2*5/9/(14/9) = 5/7
    one = bcubed(["a", "a", "b"], [7, 7, 7])
    assert one["precision"] == pytest.approx(5 / 9)
    assert one["recall"] == pytest.approx(1.0)
    assert one["f1"] == pytest.approx(5 / 7)


def test_bcubed_perfect_with_other_label_names() -> None:
    b = bcubed(GOLD_1, ["p", "p", "q", "q", "q"])
    assert b == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0})
    singletons = bcubed(["a", "b", "c"], [3, 2, 1])
    assert singletons == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0})


def test_bcubed_empty_and_length_mismatch() -> None:
    assert bcubed([], []) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    with pytest.raises(ValueError):
        bcubed(["a", "b"], [1])


def test_pairwise_from_clusters_examples() -> None:
    p1 = pairwise_from_clusters(GOLD_1, PRED_1)
    assert (p1["tp"], p1["fp"], p1["fn"]) == (2, 2, 2)
    assert p1["precision"] == pytest.approx(0.5)
    assert p1["recall"] == pytest.approx(0.5)
    assert p1["f1"] == pytest.approx(0.5)
    p2 = pairwise_from_clusters(GOLD_2, PRED_2)
    assert (p2["tp"], p2["fp"], p2["fn"]) == (1, 1, 2)
    assert p2["precision"] == pytest.approx(1 / 2)
    assert p2["recall"] == pytest.approx(1 / 3)
    assert p2["f1"] == pytest.approx(2 / 5)


def test_pairwise_from_clusters_perfect_singletons_and_one_cluster() -> None:
    perfect = pairwise_from_clusters(GOLD_1, ["p", "p", "q", "q", "q"])
    # gold pairs (0,1) (2,3) (2,4) (3,4), all predicted, nothing else
    assert (perfect["tp"], perfect["fp"], perfect["fn"]) == (4, 0, 0)
    assert perfect["f1"] == pytest.approx(1.0)
    # all singletons predict no pair: the 4 gold pairs are all missed, P and R are 0 by convention
    single = pairwise_from_clusters(GOLD_1, [1, 2, 3, 4, 5])
    assert (single["tp"], single["fp"], single["fn"]) == (0, 0, 4)
    assert (single["precision"], single["recall"], single["f1"]) == (0.0, 0.0, 0.0)
    # one cluster: all 10 pairs predicted, 4 right: P = 4/10, R = 1, F1 = 2*0.4/1.4 = 4/7
    one = pairwise_from_clusters(GOLD_1, [0] * 5)
    assert (one["tp"], one["fp"], one["fn"]) == (4, 6, 0)
    assert one["precision"] == pytest.approx(0.4)
    assert one["recall"] == pytest.approx(1.0)
    assert one["f1"] == pytest.approx(4 / 7)


def test_pair_scores_counts() -> None:
    # tp 3, fp 1, fn 2: P = 3/4, R = 3/5, F1 = 2 * 9/20 / (27/20) = 2/3
    s = pair_scores(3, 1, 2)
    assert s["precision"] == pytest.approx(3 / 4)
    assert s["recall"] == pytest.approx(3 / 5)
    assert s["f1"] == pytest.approx(2 / 3)
    assert pair_scores(0, 0, 0)["f1"] == 0.0


def test_pairwise_labelled_pairs() -> None:
    # labels      T T F F T
    # predictions T F T F T  -> tp 2 (0, 4), fn 1 (1), fp 1 (2), tn 1 (3)
    # P = 2/3, R = 2/3, F1 = 2/3, accuracy = (2 + 1) / 5 = 3/5
    out = pairwise([True, True, False, False, True], [True, False, True, False, True])
    assert (out["tp"], out["fp"], out["fn"]) == (2, 1, 1)
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["recall"] == pytest.approx(2 / 3)
    assert out["f1"] == pytest.approx(2 / 3)
    assert out["accuracy"] == pytest.approx(3 / 5)


def test_pairwise_perfect_all_negative_and_empty() -> None:
    perfect = pairwise([1, 0, 1], [True, False, True])
    assert perfect["f1"] == pytest.approx(1.0)
    assert perfect["accuracy"] == pytest.approx(1.0)
    # all predicted negative: tp 0, fn 2, tn 1
    none = pairwise([1, 0, 1], [False, False, False])
    assert (none["tp"], none["fp"], none["fn"]) == (0, 0, 2)
    assert none["f1"] == 0.0
    assert none["accuracy"] == pytest.approx(1 / 3)
    assert pairwise([], [])["accuracy"] == 0.0
    with pytest.raises(ValueError):
        pairwise([True, False], [True])


def test_clustering_example_1() -> None:
    out = clustering(GOLD_1, PRED_1)
    assert out["bcubed_precision"] == pytest.approx(11 / 15)
    assert out["bcubed_recall"] == pytest.approx(11 / 15)
    assert out["bcubed_f1"] == pytest.approx(11 / 15)
    assert out["ari"] == pytest.approx(1 / 6)
    mi = 2 / 5 * math.log(5 / 3) + 1 / 5 * math.log(5 / 9) + 2 / 5 * math.log(5 / 3)
    h = -(2 / 5 * math.log(2 / 5) + 3 / 5 * math.log(3 / 5))
    assert out["nmi"] == pytest.approx(mi / h)
    assert out["gold_clusters"] == 2
    assert out["pred_clusters"] == 2


@pytest.mark.parametrize(
    "gold, pred",
    [
        (GOLD_1, ["p", "p", "q", "q", "q"]),
        (["a", "b", "b", "c", "c", "c"], [5, 9, 9, 1, 1, 1]),
    ],
)
def test_clustering_identical_partitions(gold: list, pred: list) -> None:
    out = clustering(gold, pred)
    assert out["ari"] == pytest.approx(1.0)
    assert out["nmi"] == pytest.approx(1.0)
    assert out["bcubed_f1"] == pytest.approx(1.0)
    assert out["gold_clusters"] == out["pred_clusters"] == len(set(gold))
