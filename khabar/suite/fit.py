"""Fitting the decisions from labelled pairs: features, weights, thresholds by grouped CV.

Three scorers (cluster/scorer.py), each from the labelled pairs that ask its question:

- `near` (same-language copies): ANS (agree against disagree: a changed fact), synthetic
  copies of NTREX articles (trimmed, retitled, edited against a changed number), and the
  same-language pairs of different NTREX articles and the SemEval pairs (two outlets'
  articles, on one story or not: none is a copy, the hard negatives a copy must beat).
  Pairs the changed-fact
  rule refuses are left out: the scorer only ever sees pairs that passed the rule, so it
  must learn P(copy | no changed fact), not lean on pairs the rule already decides;
- `translation` (one article in two languages): the cross-language NTREX pairs;
- `event` (one real-world event): NTREX events, FarExStance same story, SemEval same
  story, ExaPPC paraphrases.

Each set weighs the same in a fit, however many pairs it has, so that 14,000 NTREX pairs
do not drown 981 ExaPPC ones. The threshold is chosen by grouped cross-validation inside
the training rows: the out-of-fold probabilities of an inner K-fold split, at the threshold
that maximises the mean F1 over the scorer's sets (`criterion`: the false positives of a set
without positives, such as unrelated NTREX articles for the near scorer, count against the
others). The caller passes training rows only
(the suite: every fold but the one it scores), so no threshold ever sees its test rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cluster.duplicates import Item, translation_veto, veto
from cluster.features import pair_features
from cluster.scorer import LogisticScorer
from khabar.suite import folds
from khabar.suite.datasets import Pair, Task

SOURCES = {
    "near": [
        ("ans", "agree as duplicate"),
        ("copies", "copies flagged"),
        ("ntrex", "translations"),
        ("semeval", "same story"),  # two outlets' articles: not copies (NOT_COPIES)
    ],
    "translation": [("ntrex", "translations")],
    "event": [
        ("ntrex", "events"),
        ("farexstance", "same story"),
        ("semeval", "same story"),
        ("exappc", "paraphrase together"),
    ],
}
# Pairs that are no copies whatever their label: SemEval pairs are articles of two
# different outlets, rated for the same story or not; for the near scorer they are the hard
# negatives (one story told twice, at cosines up to 0.86) that the copies must beat.
NOT_COPIES = {("near", "semeval")}
LANGUAGES = {"near": "same", "translation": "cross", "event": "any"}

# The features each scorer uses, chosen with scripts/calibrate.py --ablation (pairwise
# out-of-fold mean F1 of every candidate set; figures in cluster/calibration.json) and one
# more rule: a kept feature's weight must have the sign of what it means (SIGNS). Adding
# containment, shared terms, unmatched terms or a shared agency credit to the near scorer
# gained up to 0.01 out of fold, with weights of the wrong sign: in these sets a changed-fact
# pair is worded as much alike as a copy, so the fit learnt "worded alike: not a copy",
# which would refuse a republished agency copy. Copies held whole in another text are a
# rule instead (cluster/duplicates.py). `short` lets a headline pair be a copy or one event
# at a lower cosine than two articles (headline copies are rewritten; article copies are
# near-verbatim, and two articles on one topic reach cosines a headline pair would not).
# Every feature beyond the cosine cost the translation scorer F1. The number and negation
# conflicts gain the near scorer, but the pipeline applies them as a rule before it.
FEATURES = {
    "near": ("cosine", "numbers_agree", "short"),
    "translation": ("cosine",),
    "event": ("cosine", "cross_language", "cosine_cross", "short"),
}
# What each feature means for "these two are one": the sign its weight must have.
SIGNS = {
    "cosine": 1,
    "cosine_cross": 1,
    "numbers_agree": 1,
    "containment": 1,
    "terms_shared": 1,
    "same_source": 1,
    "numbers_conflict": -1,
    "changed_number": -1,
    "negation_mismatch": -1,
    "terms_unmatched": -1,
}


def sign_violations(scorer: LogisticScorer) -> list[str]:
    """Features whose fitted weight contradicts what they mean."""
    w = scorer.to_dict()["weights"]
    return [f for f, v in w.items() if f in SIGNS and v * SIGNS[f] < 0]


C = 1.0
GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


@dataclass
class Row:
    task: str
    pair: Pair
    fold: int
    features: dict[str, float]


def rows_for(
    decision: str, task: Task, measure: str, items: dict[str, Item], fold_of: dict[str, int]
) -> list[Row]:
    """The pairs of `task`'s measure that feed `decision`, with their features (pairs
    whose stories are not both in `items` are skipped)."""
    m = next(x for x in task.measures if x.name == measure)
    want = LANGUAGES[decision]
    out = []
    for p in m.pairs:
        a, b = items.get(p.a), items.get(p.b)
        if a is None or b is None:
            continue
        if want == "same" and a.lang != b.lang or want == "cross" and a.lang == b.lang:
            continue
        if decision == "near" and veto(a.evidence, b.evidence):
            continue  # a changed fact is refused by rule before the scorer is asked
        if decision == "translation" and translation_veto(a.evidence, b.evidence):
            continue  # so are two articles with their own figures
        if (decision, task.name) in NOT_COPIES:
            p = Pair(p.a, p.b, False, p.group)
        out.append(Row(task.name, p, fold_of[p.group], pair_features(a, b)))
    return out


def _weights(rows: list[Row]) -> np.ndarray:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.task] = counts.get(r.task, 0) + 1
    w = np.array([1.0 / counts[r.task] for r in rows])
    return w * len(rows) / len(counts)


def f1(pred: np.ndarray, y: np.ndarray) -> float:
    tp = int((pred & y).sum())
    denom = int(pred.sum()) + int(y.sum())
    return 2 * tp / denom if denom else 0.0


def mean_f1(prob: np.ndarray, y: np.ndarray, tasks: np.ndarray, t: float) -> float:
    scores = [
        f1(prob[tasks == k] >= t, y[tasks == k]) for k in np.unique(tasks) if y[tasks == k].any()
    ]
    return float(np.mean(scores)) if scores else 0.0


def criterion(prob: np.ndarray, y: np.ndarray, tasks: np.ndarray, w: np.ndarray, t: float) -> float:
    """The mean F1 of the sets with positives, each set's false positives counted with those
    of the sets that have none (each such set weighed as one set, spread over the others):
    a threshold must not buy recall on ANS with copies called among unrelated articles."""
    pred = prob >= t
    with_pos = [k for k in np.unique(tasks) if y[tasks == k].any()]
    without = [k for k in np.unique(tasks) if k not in with_pos]
    extra_fp_rate = sum(float(pred[tasks == k].mean()) for k in without)
    scores = []
    for k in with_pos:
        m = tasks == k
        tp = int((pred[m] & y[m]).sum())
        fp = int((pred[m] & ~y[m]).sum()) + extra_fp_rate * int((~y[m]).sum()) / max(
            len(with_pos), 1
        )
        fn = int((~pred[m] & y[m]).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def fit_scorer(
    rows: list[Row], features: tuple[str, ...], c: float = C
) -> tuple[LogisticScorer, dict[str, Any]]:
    """Weights from all `rows`; the threshold from an inner grouped K-fold split of them."""
    X = np.array([[r.features[f] for f in features] for r in rows])
    y = np.array([r.pair.label for r in rows], dtype=bool)
    tasks = np.array([r.task for r in rows])
    inner = folds.assign({r.pair.group for r in rows}, seed=folds.SEED + 1)
    fold = np.array([inner[r.pair.group] for r in rows])
    w = _weights(rows)
    oof = np.zeros(len(rows))
    for k in range(folds.K):
        train, test = fold != k, fold == k
        if not test.any() or len(set(y[train])) < 2:
            continue
        s = LogisticScorer(features, C=c).fit(
            X[train], y[train], w[train] * train.sum() / w[train].sum()
        )
        oof[test] = s.predict_proba(X[test])
    # The criterion is flat over a range of thresholds; take the middle of the plateau (the
    # best mean over a window of +-0.05) rather than an edge a fold's noise put first.
    raw = np.array([criterion(oof, y, tasks, w, t) for t in GRID])
    smooth = np.convolve(np.pad(raw, 5, mode="edge"), np.ones(11) / 11, mode="valid")
    best = float(GRID[int(np.argmax(smooth))])
    scorer = LogisticScorer(features, C=c, threshold=float(best)).fit(X, y, w)
    report = {
        "rows": {k: int((tasks == k).sum()) for k in sorted(set(tasks))},
        "positives": {k: int(y[tasks == k].sum()) for k in sorted(set(tasks))},
        "threshold": float(best),
        "inner_oof_f1": {
            k: round(f1(oof[tasks == k] >= best, y[tasks == k]), 4)
            for k in sorted(set(tasks))
            if y[tasks == k].any()
        },
    }
    return scorer, report


def decisions_override(scorers: dict[str, LogisticScorer]) -> dict[str, Any]:
    """The fitted scorers as a calibration override (cluster/calibration.py)."""
    return {
        "duplicates": {
            "near": scorers["near"].to_dict(),
            "translation": scorers["translation"].to_dict(),
        },
        "events": {"scorer": scorers["event"].to_dict()},
    }


def fit_all(
    rows: dict[str, list[Row]], features: dict[str, tuple[str, ...]] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """All three scorers from their rows: (calibration override, report)."""
    features = features or FEATURES
    scorers, reports = {}, {}
    for name, rs in rows.items():
        scorers[name], reports[name] = fit_scorer(rs, features[name])
    return decisions_override(scorers), reports


def cross_validate(rows: list[Row], features: tuple[str, ...], c: float = C) -> dict[str, float]:
    """Pairwise out-of-fold F1 per set: for each outer fold, weights and threshold fitted on
    the other folds (the threshold by their own inner split), applied to this one."""
    y = np.array([r.pair.label for r in rows], dtype=bool)
    tasks = np.array([r.task for r in rows])
    fold = np.array([r.fold for r in rows])
    pred = np.zeros(len(rows), dtype=bool)
    for k in range(folds.K):
        train = [r for r, f in zip(rows, fold, strict=True) if f != k]
        test = fold == k
        if not test.any():
            continue
        scorer, _ = fit_scorer(train, features, c)
        X = np.array(
            [[r.features[f] for f in features] for r, t in zip(rows, test, strict=True) if t]
        )
        pred[test] = scorer.predict(X)
    out = {
        k: round(f1(pred[tasks == k], y[tasks == k]), 4)
        for k in sorted(set(tasks))
        if y[tasks == k].any()
    }
    out["mean"] = round(float(np.mean(list(out.values()))), 4)
    return out
