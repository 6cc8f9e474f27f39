"""`khabar eval`: run the real nightly job on a labelled file in a temporary home, and score it.

Two kinds of file:
- documents with an `event_id` (and id, text, ...): event clustering is scored with B-cubed,
  ARI and NMI; duplicates pairwise, against "same event_id" (every version of a story is a
  duplicate of the others, as in NTREX, where each story comes in en, fa and ar);
- pairs with `text1`, `text2` and a label (`label` 1/0, or `stance` agree/disagree, where
  other stances are skipped): a pair is predicted positive when its two texts end in one
  event or one duplicate group. Pairs carry no dates, so pair i is dated i*30 days after a
  base date and the pairs cannot interact through events. A text that recurs in several
  pairs would still tie them together as an exact duplicate, so pairs are split into rounds
  in which no text appears twice, each run in a home of its own: every pair is decided as
  the pipeline would decide it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cluster import calibration, metrics
from embed.encoder import Encoder
from khabar.clustering import Clustering
from khabar.pipeline import ingest
from khabar.stages.reuse import NearVerbatim
from khabar.store import Store

PAIR_BASE = date(2000, 1, 1)
PAIR_SPACING_DAYS = 30


class EvalError(ValueError):
    """The file is not a labelled file khabar can score."""


def _label(row: dict[str, Any]) -> bool | None:
    if "label" in row:
        v = row["label"]
        return bool(int(v)) if isinstance(v, int | str | bool) else None
    stance = row.get("stance")
    if stance in ("agree", "disagree"):
        return stance == "agree"
    return None


def labelled_rows(path: Path, error: type[Exception] = ValueError) -> list[dict[str, Any]]:
    """The JSON objects of a labelled JSONL file; a bad line raises `error` naming file and
    line (labels are all or nothing: a run on part of them would score the wrong thing)."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise error(f"{path}:{n}: invalid JSON ({exc.msg})") from None
    return rows


def read_rows(path: Path) -> list[dict[str, Any]]:
    rows = labelled_rows(path, EvalError)
    if not rows:
        raise EvalError(f"{path}: no rows")
    return rows


def evaluate(
    path: Path,
    encoder_factory: Callable[[], Encoder],
    model_name: str,
    published_at: str | None = None,
    thresholds: Path | None = None,
) -> dict[str, Any]:
    rows = read_rows(path)
    first = rows[0]
    if "text1" in first and "text2" in first:
        kind = "pairs"
        docs, pairs = _pair_docs(rows)
    elif "event_id" in first:
        kind = "events"
        docs, pairs = _event_docs(rows, published_at), []
    else:
        raise EvalError(f"{path}: rows need event_id (documents) or text1/text2 (pairs)")

    detector, clusterer = calibration.build(thresholds)
    stories: dict[str, dict[str, Any]] = {}
    cosines: dict[str, tuple[float, float]] = {}  # pair's first id -> (raw, corrected)
    rejected = 0
    for round_docs in _rounds(docs) if kind == "pairs" else [docs]:
        with tempfile.TemporaryDirectory(prefix="khabar-eval-") as tmp:
            home = Path(tmp)
            source = home / "input.jsonl"
            source.write_text(
                "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in round_docs),
                encoding="utf-8",
            )
            store = Store(home / "home")
            summary = ingest(
                store,
                [str(source)],
                encoder_factory,
                model_name,
                after=lambda index, changed, store=store: (
                    Clustering(store, detector, clusterer).run(changed).as_dict()
                ),
                command="eval",
                reuse=NearVerbatim.of(detector),
            )
            rejected += summary.rejected
            stories.update({s["id"]: s for s in store.iter_stories()})
            if kind == "pairs":
                cosines.update(_pair_cosines(store, round_docs))
            store.close()

    def group(sid: str) -> str:
        s = stories[sid]
        return s["duplicate_of"] or sid

    result: dict[str, Any] = {
        "file": str(path),
        "kind": kind,
        "stories": len(stories),
        "rejected": rejected,
        "thresholds": calibration.load(thresholds),
    }
    if kind == "events":
        ids = [d["id"] for d in docs if d["id"] in stories]
        gold = [d["event_id"] for d in docs if d["id"] in stories]
        result["events"] = metrics.clustering(gold, [stories[i]["event_id"] for i in ids])
        result["duplicates"] = metrics.pairwise_from_clusters(gold, [group(i) for i in ids])
        result["duplicate_kinds"] = _kinds(stories)
    else:
        labels, same_event, same_group, either = [], [], [], []
        for a, b, y in pairs:
            if a not in stories or b not in stories:
                continue
            e = stories[a]["event_id"] == stories[b]["event_id"]
            g = group(a) == group(b)
            labels.append(y)
            same_event.append(e)
            same_group.append(g)
            either.append(e or g)
        result["pairs"] = len(labels)
        result["positives"] = sum(labels)
        result["same_event_or_duplicate"] = metrics.pairwise(labels, either)
        result["same_event"] = metrics.pairwise(labels, same_event)
        scored = [(cosines[a], y) for a, _, y in pairs if a in cosines]
        result["baselines"] = {
            "raw_cosine_best_threshold": _oracle([c[0] for c, _ in scored], [y for _, y in scored]),
            "corrected_cosine_best_threshold": _oracle(
                [c[1] for c, _ in scored], [y for _, y in scored]
            ),
        }
        result["duplicate"] = metrics.pairwise(labels, same_group)
        result["duplicate_kinds"] = _kinds(stories)
    return result


def _kinds(stories: dict[str, dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in stories.values():
        if s["duplicate_kind"]:
            out[s["duplicate_kind"]] = out.get(s["duplicate_kind"], 0) + 1
    return out


def _event_docs(rows: list[dict[str, Any]], published_at: str | None) -> list[dict[str, Any]]:
    docs = []
    for r in rows:
        d = {k: v for k, v in r.items()}
        d["id"] = str(d["id"])
        if published_at:
            d["published_at"] = published_at
        docs.append(d)
    return docs


def _pair_cosines(store: Store, docs: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Raw and language-corrected cosine of each pair, from the home's stored vectors."""
    from khabar import vectors

    index = vectors.load(store, store.home)
    out = {}
    for a, b in zip(docs[0::2], docs[1::2], strict=True):
        sa, sb = store.get(a["id"]), store.get(b["id"])
        if sa is None or sb is None:
            continue
        raw = np.stack([store.vector(sa["embed_key"]), store.vector(sb["embed_key"])])
        corrected = index.correct([sa["lang"], sb["lang"]], raw)
        out[a["id"]] = (float(raw[0] @ raw[1]), float(corrected[0] @ corrected[1]))
    return out


def _oracle(scores: list[float], labels: list[bool]) -> dict[str, float]:
    """F1 at the best possible threshold: a baseline that has seen the labels."""
    s, y = np.asarray(scores), np.asarray(labels, dtype=bool)
    best = {"f1": 0.0, "threshold": 0.0}
    for t in np.unique(np.round(s, 3)):
        pred = s >= t
        tp = int((pred & y).sum())
        f1 = 2 * tp / (int(pred.sum()) + int(y.sum())) if pred.sum() + y.sum() else 0.0
        if f1 > best["f1"]:
            best = {"f1": f1, "threshold": float(t)}
    return best


def _rounds(docs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split pair documents (consecutive twos) into rounds with no repeated text."""
    from embed.text import normalize

    rounds: list[tuple[set[str], list[dict[str, Any]]]] = []
    for a, b in zip(docs[0::2], docs[1::2], strict=True):
        keys = {normalize(a["text"]), normalize(b["text"])}
        for seen, members in rounds:
            if not keys & seen:
                seen |= keys
                members += [a, b]
                break
        else:
            rounds.append((set(keys), [a, b]))
    return [members for _, members in rounds]


def _pair_docs(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple]]:
    docs, pairs = [], []
    for i, r in enumerate(rows):
        y = _label(r)
        if y is None:
            continue
        pid = str(r.get("pair_id", i))
        day = (PAIR_BASE + timedelta(days=PAIR_SPACING_DAYS * i)).isoformat()
        a, b = f"{pid}/1", f"{pid}/2"
        for sid, text in ((a, r["text1"]), (b, r["text2"])):
            doc = {"id": sid, "text": text, "published_at": day}
            if r.get("lang"):
                doc["lang"] = r["lang"]
            docs.append(doc)
        pairs.append((a, b, y))
    return docs, pairs
