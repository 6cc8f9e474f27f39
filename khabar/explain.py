"""Why two stories are (or are not) copies of one article, or reports of one event.

`khabar explain ID1 ID2` judges two stored stories as the nightly job would and shows what
it stored for them; `khabar compare TEXT1 TEXT2` judges two texts that are stored nowhere
(prepared and embedded as the nightly job would, language-corrected with the model's
reference means, as in a new home). Both give the duplicate decision (exact, near,
translation or none, with its probability and the rule that vetoed it, if any), the
probability that the two report one event, and each feature's contribution to the log-odds
(cluster/scorer.py), strongest first.
"""

from __future__ import annotations

import json
from typing import Any

from cluster.duplicates import DuplicateDetector, Item
from cluster.events import EventClusterer
from cluster.features import pair_features
from khabar.views import cell

CONTRIBUTIONS = 8  # features shown in a terminal, strongest first


def judge(a: Item, b: Item, detector: DuplicateDetector, clusterer: EventClusterer) -> dict:
    dup = detector.judge(a, b)
    out: dict[str, Any] = {"duplicate": dup.as_dict(detector.scorers)}
    scorer = detector.scorers.get(dup.scorer or "")
    out["duplicate"]["threshold"] = None if scorer is None else scorer.threshold
    feats = pair_features(a, b)
    gap = abs(a.day - b.day)
    penalty = clusterer.time_penalty(gap, feats)
    z = clusterer.scorer.logit(feats) - penalty
    from cluster.scorer import sigmoid

    out["event"] = {
        "probability": round(sigmoid(z), 4),
        "threshold": clusterer.threshold,
        "same_event": sigmoid(z) >= clusterer.threshold and gap <= clusterer.close_after_days,
        "gap_days": round(gap, 2),
        "time_penalty": round(penalty, 3),
        "closed": clusterer.close_after_days if gap > clusterer.close_after_days else None,
        "contributions": clusterer.scorer.explain(feats),
        "note": "the pair alone; a story joins an event on its mean log-odds against the "
        f"event's {clusterer.members} nearest members",
    }
    return out


def story_head(story: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "lang", "published_at", "date_source", "outlet", "title", "event_id")
    return {k: story.get(k) for k in keys} | {
        "duplicate_of": story.get("duplicate_of"),
        "duplicate_kind": story.get("duplicate_kind"),
    }


def stored_relation(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What the home decided for the two, with the evidence it kept."""
    out: dict[str, Any] = {
        "same_event": bool(a.get("event_id")) and a.get("event_id") == b.get("event_id"),
        "event_ids": [a.get("event_id"), b.get("event_id")],
    }
    group_a = a.get("duplicate_of") or a["id"]
    group_b = b.get("duplicate_of") or b["id"]
    out["same_duplicate_group"] = group_a == group_b
    for s in (a, b):
        if s.get("duplicate_of") and s.get("duplicate_evidence"):
            out.setdefault("duplicate_evidence", {})[s["id"]] = json.loads(s["duplicate_evidence"])
        if s.get("event_evidence"):
            out.setdefault("event_evidence", {})[s["id"]] = json.loads(s["event_evidence"])
    return out


def render(result: dict[str, Any]) -> list[str]:
    """Terminal lines: the two stories, the two decisions, the evidence."""
    lines = []
    for tag in ("a", "b"):
        s = result[tag]
        date = (s.get("published_at") or "-")[:10]
        source = f" ({s['date_source']} date)" if s.get("date_source") == "file" else ""
        lines.append(
            f"{tag.upper()}  {cell(s.get('id'), 24)}  {cell(s.get('lang'), 3)}  "
            f"{date}{source}  {(s.get('title') or '')[:70]}"
        )
    d = result["duplicate"]
    if d["kind"] == "exact":
        lines.append("duplicate:  exact (the same text after normalisation)")
    else:
        verdict = d["kind"] or "no"
        threshold = d.get("threshold")
        at = f" (threshold {threshold:.2f})" if threshold is not None else ""
        scorer = d.get("scorer") or "duplicate"
        lines.append(f"duplicate:  {verdict}: {scorer} probability {d['probability']:.3f}{at}")
        if d.get("veto"):
            lines.append(f"            refused by rule: {d['veto']}")
    e = result["event"]
    verdict = "yes" if e["same_event"] else "no"
    if e.get("closed"):
        lines.append(
            f"same event: no: {e['gap_days']:g} days apart, and an event closes to stories "
            f"more than {e['closed']:g} days away (probability {e['probability']:.3f} "
            "even with the time penalty)"
        )
    else:
        lines.append(
            f"same event: {verdict}: probability {e['probability']:.3f} "
            f"(threshold {e['threshold']:.2f}; {e['gap_days']:g} days apart, "
            f"time penalty {e['time_penalty']:.2f})"
        )
    stored = result.get("stored")
    if stored:
        ev = "the same event" if stored["same_event"] else "different events"
        grp = "one duplicate group" if stored["same_duplicate_group"] else "no duplicate link"
        ids = " / ".join(x or "-" for x in stored["event_ids"])
        lines.append(f"stored:     {ev} ({ids}); {grp}")
    for name, block in (("duplicate", d), ("event", e)):
        contributions = block.get("contributions") or []
        if not contributions:
            continue
        lines.append(f"{name} evidence (log-odds against an average pair):")
        for c in contributions[:CONTRIBUTIONS]:
            lines.append(f"  {c['feature']:<18}{c['value']:>8.3f}  {c['contribution']:+.2f}")
    return lines


def text_items(texts: list[str], encoder, model_name: str) -> list[tuple[dict[str, Any], Item]]:
    """Texts prepared and embedded as the nightly job would, corrected with the model's
    reference language means (what a new home starts from)."""
    from cluster.evidence import Evidence
    from embed import text as textlib
    from embed.encoder import LanguageStats, load_reference
    from khabar.clustering import story_day
    from khabar.prepare import prepare
    from khabar.sources import Record
    from khabar.store import now

    stories = []
    for i, t in enumerate(texts, 1):
        story = prepare(Record(id=f"text{i}", text=t, source=f"argument {i}"), model_name)
        story["ingested_at"] = now()
        stories.append(story)
    raw = encoder.encode([s["_model_input"] for s in stories])
    reference = load_reference(model_name)
    if reference and len(next(iter(reference.values()))) != raw.shape[1]:
        reference = {}
    stats = LanguageStats(dimension=raw.shape[1], reference=reference)
    corrected = stats.center([s["lang"] for s in stories], raw)
    out = []
    for i, s in enumerate(stories):
        day = story_day(s)
        norm = textlib.normalize(f"{s['title']}\n{s['text']}")
        item = Item(
            s["id"],
            (day, i),
            day,
            s["lang"],
            corrected[i],
            Evidence.of(norm, s["lang"]),
            s["content_hash"],
        )
        out.append((s, item))
    return out
