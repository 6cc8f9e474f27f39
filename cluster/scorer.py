"""A logistic model over named pair features, stored as data a reader can open.

The duplicate and event decisions are each one of these: `fit` learns weights from labelled
pairs (scikit-learn's LogisticRegression does the solving), `predict_proba` answers, and
`explain` says which features moved the answer and by how much. A fitted scorer is a plain
dict (`to_dict`/`from_dict`): feature names, one weight per feature, an intercept, the mean
of each feature over the training pairs and the decision threshold, so that
`cluster/calibration.json` shows exactly what decides, and nothing is unpickled.

Features are standardised before solving (so the penalty treats them alike) and the weights
are stored back in the features' own units: the log-odds of a pair is
`intercept + sum(weight[f] * value[f])`. `explain` reports each feature's contribution as
`weight[f] * (value[f] - mean[f])`, i.e. relative to an average training pair, which is the
reading "this pair's numbers agree more than usual, +0.8".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


class LogisticScorer:
    def __init__(
        self,
        features: Sequence[str],
        C: float = 1.0,
        threshold: float = 0.5,
        class_weight: str | None = "balanced",
    ):
        self.features = tuple(features)
        self.C = C
        self.threshold = threshold
        self.class_weight = class_weight
        self.weights_: np.ndarray | None = None
        self.intercept_: float = 0.0
        self.means_: np.ndarray | None = None
        self._weights_list: tuple[np.ndarray, list[float]] | None = None  # `_weight_list`

    # --- learning ----------------------------------------------------------------------------

    def fit(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> LogisticScorer:
        from sklearn.linear_model import LogisticRegression

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=bool)
        if X.shape[1] != len(self.features):
            raise ValueError(f"{X.shape[1]} columns for {len(self.features)} features")
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale < 1e-9] = 1.0
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=5000)
        lr.fit((X - mean) / scale, y, sample_weight=sample_weight)
        w = lr.coef_[0] / scale
        self.weights_ = w
        self.intercept_ = float(lr.intercept_[0] - np.sum(w * mean))
        self.means_ = mean
        return self

    # --- answering ---------------------------------------------------------------------------

    def _check(self) -> np.ndarray:
        if self.weights_ is None:
            raise RuntimeError("this scorer is not fitted")
        return self.weights_

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Log-odds of each row."""
        return np.asarray(X, dtype=np.float64) @ self._check() + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(positive) of each row (one column, not scikit-learn's two)."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X) >= self.threshold

    def row(self, values: Mapping[str, float]) -> np.ndarray:
        """One feature dict as a row in this scorer's column order."""
        return np.array([values[f] for f in self.features], dtype=np.float64)

    def weight(self, feature: str) -> float:
        """The weight of one feature; 0 for a feature this scorer does not weigh."""
        w = self._check()
        return float(w[self.features.index(feature)]) if feature in self.features else 0.0

    def logit(self, values: Mapping[str, float]) -> float:
        return self.logit_of([values[f] for f in self.features])

    def logit_of(self, row: Sequence[float]) -> float:
        """`logit` of the values in this scorer's feature order (`features.pair_values`):
        the same sum, term by term, without a dict."""
        w = self._weight_list()
        return float(sum(wi * v for wi, v in zip(w, row, strict=True)) + self.intercept_)

    def _weight_list(self) -> list[float]:
        """The weights as Python floats (the same products, without numpy scalars), converted
        once per fitted array rather than once per pair."""
        w = self._check()
        cached = self._weights_list
        if cached is None or cached[0] is not w:
            cached = self._weights_list = (w, w.tolist())
        return cached[1]

    def probability(self, values: Mapping[str, float]) -> float:
        return sigmoid(self.logit(values))

    def explain(self, values: Mapping[str, float]) -> list[dict[str, float | str]]:
        """Each feature's value and its contribution to the log-odds against an average
        training pair, strongest first."""
        w = self._check()
        assert self.means_ is not None
        out = []
        for i, f in enumerate(self.features):
            out.append(
                {
                    "feature": f,
                    "value": round(float(values[f]), 4),
                    "contribution": round(float(w[i] * (values[f] - self.means_[i])), 3),
                }
            )
        out.sort(key=lambda e: -abs(float(e["contribution"])))
        return out

    # --- as data -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        w = self._check()
        assert self.means_ is not None
        return {
            "kind": "logistic",
            "threshold": round(float(self.threshold), 4),
            "intercept": round(self.intercept_, 6),
            "weights": {f: round(float(w[i]), 6) for i, f in enumerate(self.features)},
            "means": {f: round(float(self.means_[i]), 6) for i, f in enumerate(self.features)},
            "C": self.C,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogisticScorer:
        if data.get("kind") != "logistic":
            raise ValueError(f"unknown scorer kind {data.get('kind')!r}")
        weights = data["weights"]
        features = list(weights)
        means = data.get("means", {})
        unknown = set(means) - set(features)
        if unknown:
            raise ValueError(f"means for features without a weight: {sorted(unknown)}")
        s = cls(features, C=float(data.get("C", 1.0)), threshold=float(data["threshold"]))
        s.weights_ = np.array([float(weights[f]) for f in features])
        s.intercept_ = float(data["intercept"])
        s.means_ = np.array([float(means.get(f, 0.0)) for f in features])
        return s


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))
