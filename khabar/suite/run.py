"""`khabar eval --suite DATA`: every development set through the real pipeline, scored
out-of-fold and in-sample, beside the naive baseline.

Columns of the table:
- out-of-fold: for each fold k of a set's groups (khabar/suite/folds.py), the model tuned
  without fold k (embed/adapters/folds/, for the sets the tune trains on) and decisions
  fitted without fold k (khabar/suite/fit.py) run the real ingest and clustering; each pair
  is scored by the run of its own fold. This is the figure that predicts unseen news.
- in-sample: the shipped model and decisions on every row, rows they were fitted on
  included; the gap to out-of-fold is what fitting on the rows themselves would overstate.
- raw cosine: the untuned model's cosine between the two stories at the threshold that is
  best for that very set, a baseline that has seen the labels; khabar below it is a
  regression whatever the absolute number.

Fitting rows for fold k's decisions follow the same rule as the scoring: a licensed set's
row in fold j carries the features of the fold-j model (which never saw it), so the
decisions learn from features like the ones they will meet.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embed import model as modellib
from khabar.suite import datasets, fit, folds
from khabar.suite.cache import VectorCache
from khabar.suite.datasets import Measure, Task
from khabar.suite.homes import Homes

FOLD_ADAPTER = "e5-small-khabar1-fold{k}.safetensors"


class SuiteError(RuntimeError):
    """Something the suite needs is missing; the message says how to get it."""


def fold_models() -> list[str]:
    from embed.adapter import ADAPTER_DIR

    paths = [ADAPTER_DIR / "folds" / FOLD_ADAPTER.format(k=k) for k in range(folds.K)]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise SuiteError(
            f"{missing[0]} is missing: train the fold adapters with "
            "`python scripts/train_adapter.py DATA --folds`"
        )
    return [str(modellib.adapter_model(p)) for p in paths]


@dataclass
class Result:
    task: str
    title: str
    measure: str
    relation: str
    pairs: int
    positives: int
    oof: dict[str, float] = field(default_factory=dict)
    in_sample: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def predicted(relation: str, fields: dict[str, dict[str, Any]], a: str, b: str) -> bool:
    fa, fb = fields[a], fields[b]
    event = fa["event_id"] is not None and fa["event_id"] == fb["event_id"]
    group = (fa["duplicate_of"] or a) == (fb["duplicate_of"] or b)
    return {"event": event, "duplicate": group, "either": event or group}[relation]


def score(measure: Measure, pred: dict[tuple[str, str], bool]) -> dict[str, float]:
    y = np.array([p.label for p in measure.pairs if (p.a, p.b) in pred], dtype=bool)
    yhat = np.array([pred[(p.a, p.b)] for p in measure.pairs if (p.a, p.b) in pred], dtype=bool)
    tp = int((y & yhat).sum())
    precision = tp / int(yhat.sum()) if yhat.any() else 1.0
    recall = tp / int(y.sum()) if y.any() else 1.0
    out = {
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "precision": precision,
        "recall": recall,
        "pairs": int(len(y)),
    }
    if measure.negatives_apart:
        out["negatives_apart"] = float((~yhat[~y]).mean()) if (~y).any() else 1.0
    return out


def oracle(measure: Measure, cosine: dict[tuple[str, str], float]) -> dict[str, float]:
    """F1 of a cosine threshold at its best for these very pairs (it has seen the labels)."""
    pairs = [p for p in measure.pairs if (p.a, p.b) in cosine]
    s = np.array([cosine[(p.a, p.b)] for p in pairs])
    y = np.array([p.label for p in pairs], dtype=bool)
    best = {"f1": 0.0, "threshold": 0.0}
    for t in np.unique(np.round(s, 3)):
        f = fit.f1(s >= t, y)
        if f > best["f1"]:
            best = {"f1": f, "threshold": float(t)}
    if measure.negatives_apart:
        best["negatives_apart"] = float((s[~y] < best["threshold"]).mean())
    return best


def at_negatives_apart(
    measure: Measure, cosine: dict[tuple[str, str], float], apart: float
) -> float:
    """F1 of the cosine threshold that keeps the same share of negatives apart as khabar
    does: the baseline at khabar's operating point rather than at its own best F1."""
    pairs = [p for p in measure.pairs if (p.a, p.b) in cosine]
    s = np.array([cosine[(p.a, p.b)] for p in pairs])
    y = np.array([p.label for p in pairs], dtype=bool)
    t = float(np.quantile(s[~y], apart)) if (~y).any() else float(s.min())
    return fit.f1(s > t, y)


def errors(
    measure: Measure,
    pred: dict[tuple[str, str], bool],
    cosine: dict[tuple[str, str], float],
    docs: dict[str, dict[str, Any]],
    n: int = 10,
) -> dict[str, list[dict[str, Any]]]:
    """The worst false merges (highest cosine among wrongly joined negatives) and misses
    (lowest cosine among positives kept apart), to read, not only to count."""

    def row(p):
        return {
            "a": p.a,
            "b": p.b,
            "cosine": round(cosine.get((p.a, p.b), float("nan")), 3),
            "text_a": _head(docs[p.a]),
            "text_b": _head(docs[p.b]),
        }

    merges = [p for p in measure.pairs if (p.a, p.b) in pred and pred[(p.a, p.b)] and not p.label]
    misses = [p for p in measure.pairs if (p.a, p.b) in pred and not pred[(p.a, p.b)] and p.label]
    merges.sort(key=lambda p: -cosine.get((p.a, p.b), 0))
    misses.sort(key=lambda p: cosine.get((p.a, p.b), 0))
    return {"false_merges": [row(p) for p in merges[:n]], "misses": [row(p) for p in misses[:n]]}


def _head(doc: dict[str, Any], chars: int = 160) -> str:
    text = f"{doc.get('title') or ''} {doc.get('text') or ''}".strip()
    return " ".join(text.split())[:chars]


class Suite:
    def __init__(
        self,
        data: Path,
        workdir: Path,
        cache: Path,
        sets: list[str] | None = None,
        log: Callable[[str], None] | None = None,
        priors: dict[str, Any] | None = None,
    ):
        """`priors`: a calibration override applied on top of every fitted one (the fixed
        values, e.g. {"events": {"members": 3}}), to compare choices on the same homes."""
        self.priors = priors or {}
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        names = None if sets is None else sorted(set(sets) | _needs(sets))
        self.tasks = {t.name: t for t in datasets.load(data, names)}
        self.shown = [n for n in self.tasks if sets is None or n in sets]
        self.homes = Homes(workdir, VectorCache(cache), self.log)
        self.fold_of = {name: folds.of_task(t) for name, t in self.tasks.items()}

    # --- homes -----------------------------------------------------------------------------

    def fold_ids(self, task: Task, k: int) -> set[str]:
        """The stories a fold-k run needs: all of a docs task, the fold's pairs of a pairs
        task."""
        if task.mode == "docs":
            return set(task.docs)
        where = self.fold_of[task.name]
        return {
            x for m in task.measures for p in m.pairs if where[p.group] == k for x in (p.a, p.b)
        }

    def slot(self, task: Task, k: int | None) -> tuple[str, set[str] | None]:
        """(model, stories) of task's homes for fold k (None: the shipped model, all)."""
        if k is None or not task.licensed:
            return modellib.DEFAULT_MODEL, None
        return self.models[k], self.fold_ids(task, k)

    # --- the run ---------------------------------------------------------------------------

    def prepare_models(self) -> None:
        self.models = fold_models()
        reference_docs = list(self.tasks["ntrex"].docs.values()) if "ntrex" in self.tasks else []
        for spec in self.models:
            if reference_docs:
                self.homes.ensure_reference(spec, reference_docs)

    def fit_rows(self) -> dict[str, list[fit.Row]]:
        """Every labelled pair that feeds a scorer, with the features of the model that
        never saw it (a licensed set's fold-j row: the fold-j model)."""
        self.log("suite: building homes and features")
        fitted = [t for t in self.tasks.values() if t.name != "seeds"]
        rows: dict[str, list[fit.Row]] = {name: [] for name in fit.SOURCES}
        for task in fitted:
            for k in range(folds.K) if task.licensed else [None]:
                spec, ids = self.slot(task, k)
                self.log(f"  {task.name}: {Path(spec).name}, {len(ids or task.docs)} stories")
                items = {}
                for home in self.homes.build(task, spec, ids):
                    items.update(self.homes.items(home))
                for decision, sources in fit.SOURCES.items():
                    for tname, measure in sources:
                        if tname != task.name:
                            continue
                        got = fit.rows_for(decision, task, measure, items, self.fold_of[task.name])
                        rows[decision] += [r for r in got if k is None or r.fold == k]
        return rows

    def run(self) -> list[Result]:
        started = time.time()
        self.prepare_models()
        rows = self.rows = self.fit_rows()

        results = []
        for name in self.shown:
            task = self.tasks[name]
            for m in task.measures:
                results.append(
                    Result(
                        name,
                        task.title,
                        m.name,
                        m.relation,
                        len(m.pairs),
                        sum(p.label for p in m.pairs),
                    )
                )
        by_key = {(r.task, r.measure): r for r in results}

        # Out-of-fold: fold-k decisions on fold-k rows. Keyed by measure too: two measures of
        # one set (NTREX events and translations) score the same pairs on other relations.
        oof_pred: dict[tuple[str, str], dict[tuple[str, str], bool]] = {
            (n, m.name): {} for n in self.shown for m in self.tasks[n].measures
        }
        for k in range(folds.K):
            self.log(f"suite: fold {k + 1}/{folds.K}: fitting, then clustering")
            train = {d: [r for r in rs if r.fold != k] for d, rs in rows.items()}
            override, _ = fit.fit_all(train)
            override = _merged(override, self.priors)
            for name in self.shown:
                task = self.tasks[name]
                if name == "seeds":
                    continue
                spec, ids = self.slot(task, k)
                fields = {}
                for home in self.homes.build(task, spec, ids):
                    fields.update(self.homes.cluster(home, override))
                where = self.fold_of[name]
                for m in task.measures:
                    for p in m.pairs:
                        if where[p.group] == k and p.a in fields and p.b in fields:
                            pred = predicted(m.relation, fields, p.a, p.b)
                            oof_pred[(name, m.name)][(p.a, p.b)] = pred

        # In-sample: the shipped model and decisions on everything; the naive baseline.
        self.log("suite: in-sample run and raw-cosine baseline")
        for name in self.shown:
            task = self.tasks[name]
            fields = {}
            for home in self.homes.build(task, modellib.DEFAULT_MODEL):
                fields.update(self.homes.cluster(home, self.priors or None))
            raw: dict[str, np.ndarray] = {}
            for home in self.homes.build(task, modellib.BASE_MODEL):
                raw.update(self.homes.raw_vectors(home))
            for m in task.measures:
                r = by_key[(name, m.name)]
                cos = {
                    (p.a, p.b): float(raw[p.a] @ raw[p.b])
                    for p in m.pairs
                    if p.a in raw and p.b in raw
                }
                ins = {
                    (p.a, p.b): predicted(m.relation, fields, p.a, p.b)
                    for p in m.pairs
                    if p.a in fields and p.b in fields
                }
                r.in_sample = score(m, ins)
                oof = oof_pred[(name, m.name)]
                r.oof = score(m, oof) if name != "seeds" else dict(r.in_sample)
                r.baseline = oracle(m, cos)
                if m.negatives_apart and name != "seeds":
                    r.baseline["f1_at_khabar_negatives_apart"] = at_negatives_apart(
                        m, cos, r.oof["negatives_apart"]
                    )
                r.errors = errors(m, oof if name != "seeds" else ins, cos, task.docs)
        self.log(f"suite: done in {time.time() - started:.0f} s")
        return results


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merged(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


def _needs(sets: list[str]) -> set[str]:
    """Sets the fit needs whichever are shown: every scorer's sources, and NTREX for the fold
    models' reference means."""
    return {t for sources in fit.SOURCES.values() for t, _ in sources}


def table(results: list[Result]) -> list[str]:
    lines = [
        f"{'set':<12}{'measure':<22}{'pairs':>7}  {'out-of-fold F1 (P/R)':<24}"
        f"{'in-sample':>10}  {'raw cosine':>10}"
    ]
    for r in results:
        o, i, b = r.oof, r.in_sample, r.baseline
        extra = ""
        if "negatives_apart" in o:
            extra = (
                f"   negatives apart {o['negatives_apart']:.0%} (in-sample "
                f"{i['negatives_apart']:.0%}, raw cosine {b['negatives_apart']:.0%}); raw "
                f"cosine keeping {o['negatives_apart']:.0%} apart: F1 "
                f"{b['f1_at_khabar_negatives_apart']:.3f}"
            )
        lines.append(
            f"{r.task:<12}{r.measure:<22}{r.pairs:>7}  "
            f"{o['f1']:.3f} ({o['precision']:.3f}/{o['recall']:.3f})     "
            f"{i['f1']:>10.3f}  {b['f1']:>10.3f}{extra}"
        )
    return lines
