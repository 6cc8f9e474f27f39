"""Clustering and pair metrics, against gold labels.

B-cubed (Bagga & Baldwin, 1998) scores each item by how much of its predicted cluster shares
its gold cluster (precision) and how much of its gold cluster it was put with (recall); it is
the usual measure for news event clustering because it does not reward one giant cluster or
all singletons. ARI and NMI come from scikit-learn. Pairwise P/R/F1 treat "same cluster" as a
prediction about every pair of items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from itertools import combinations

from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def bcubed(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> dict[str, float]:
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")
    if not gold:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    pair_counts = Counter(zip(gold, pred, strict=True))
    gold_sizes, pred_sizes = Counter(gold), Counter(pred)
    precision = recall = 0.0
    for (g, p), n in pair_counts.items():
        # each of the n items in this (gold, pred) cell sees n correct companions
        precision += n * n / pred_sizes[p]
        recall += n * n / gold_sizes[g]
    precision /= len(gold)
    recall /= len(gold)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def pairwise_from_clusters(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> dict[str, float]:
    """P/R/F1 over all item pairs, where a pair is positive if both are in one cluster."""
    tp = fp = fn = 0
    for i, j in combinations(range(len(gold)), 2):
        same_gold, same_pred = gold[i] == gold[j], pred[i] == pred[j]
        tp += same_gold and same_pred
        fp += same_pred and not same_gold
        fn += same_gold and not same_pred
    return pair_scores(tp, fp, fn)


def pair_scores(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": _f1(p, r), "tp": tp, "fp": fp, "fn": fn}


def pairwise(labels: Sequence[bool], predictions: Sequence[bool]) -> dict[str, float]:
    """P/R/F1 for labelled pairs (a pair file: paraphrase or not)."""
    tp = sum(1 for y, p in zip(labels, predictions, strict=True) if y and p)
    fp = sum(1 for y, p in zip(labels, predictions, strict=True) if p and not y)
    fn = sum(1 for y, p in zip(labels, predictions, strict=True) if y and not p)
    out = pair_scores(tp, fp, fn)
    out["accuracy"] = (
        sum(1 for y, p in zip(labels, predictions, strict=True) if bool(y) == bool(p)) / len(labels)
        if labels
        else 0.0
    )
    return out


def clustering(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> dict[str, float]:
    """Everything we report for an event clustering."""
    b = bcubed(gold, pred)
    return {
        "bcubed_precision": b["precision"],
        "bcubed_recall": b["recall"],
        "bcubed_f1": b["f1"],
        "ari": float(adjusted_rand_score(gold, pred)),
        "nmi": float(normalized_mutual_info_score(gold, pred)),
        "gold_clusters": len(set(gold)),
        "pred_clusters": len(set(pred)),
    }
