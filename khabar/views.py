"""How stories and hits look: one line for a terminal, one object for JSON.

Shared by the command line and the HTTP service, so both give the same shapes. Terminal
lines are built for right-to-left text: the headline comes last, and a right-to-left value
in a middle column is closed with a left-to-right mark so the next column does not join
its run in a bidi-aware terminal.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from typing import Any

LRM = "\u200e"


def is_rtl(s: str) -> bool:
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in s)


def cell(s: str | None, width: int) -> str:
    """Fixed-width cell; an RTL value is closed with a left-to-right mark so that the next
    column does not join its right-to-left run in a bidi-aware terminal."""
    s = (s or "-").replace("\n", " ")
    if len(s) > width:
        s = s[: width - 1] + "…"
    pad = " " * (width - len(s))
    return s + (LRM if is_rtl(s) else "") + pad


def hit_line(rank: int, score: float, story: dict[str, Any], title_width: int = 70) -> str:
    date = (story.get("published_at") or "-")[:10]
    title = (story.get("title") or "").replace("\n", " ")
    if len(title) > title_width:
        title = title[: title_width - 1] + "…"
    return (
        f"{rank:>3}  {score:6.3f}  {cell(story['id'], 24)}  {cell(story['lang'], 5)}"
        f"{cell(date, 10)}  {cell(story.get('outlet'), 14)}  {title}"
    )


def hit_json(rank: int, score: float, story: dict[str, Any]) -> dict[str, Any]:
    return {
        "rank": rank,
        "score": round(score, 4),
        "id": story["id"],
        "lang": story["lang"],
        "published_at": story["published_at"],
        "outlet": story["outlet"],
        "title": story["title"],
        "url": story["url"],
    }


HIDDEN_FIELDS = ("raw_text", "embed_key", "input_hash")  # internal: not shown by `show --json`
EVIDENCE_FIELDS = ("duplicate_evidence", "event_evidence")  # JSON text in the database


def evidence(story: dict[str, Any], field: str) -> dict[str, Any] | None:
    raw = story.get(field)
    return json.loads(raw) if raw else None


def show_json(story: dict[str, Any], copies: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The story's fields, its decisions' evidence as objects, and the stories that copy it."""
    out = {k: v for k, v in story.items() if k not in HIDDEN_FIELDS}
    for f in EVIDENCE_FIELDS:
        out[f] = evidence(story, f)
    if copies is not None:
        out["copies"] = [
            {
                "id": c["id"],
                "lang": c["lang"],
                "duplicate_kind": c["duplicate_kind"],
                "duplicate_score": c["duplicate_score"],
                "title": c["title"],
            }
            for c in copies
        ]
    return out


def evidence_lines(story: dict[str, Any], copies: list[dict[str, Any]], top: int = 4) -> list[str]:
    """Why the story is a copy and why it is in its event, for `show` in a terminal."""
    lines = []
    dup = evidence(story, "duplicate_evidence")
    if story.get("duplicate_of"):
        p = f"probability {story['duplicate_score']:.3f}" if story.get("duplicate_score") else ""
        lines.append(f"copy of:         {story['duplicate_of']} ({story['duplicate_kind']} {p})")
        if dup and dup.get("via"):
            lines.append(f"                 linked through {dup['via']}")
        if dup and dup.get("contributions"):
            lines.append("                 " + _top(dup["contributions"], top))
    for c in copies:
        lines.append(
            f"copied by:       {c['id']} ({c['duplicate_kind']} {c['duplicate_score'] or 0:.3f})"
        )
    ev = evidence(story, "event_evidence")
    if ev:
        rule = ev.get("rule")
        if rule == "duplicate":
            lines.append(f"event:           {story['event_id']}: the event of {ev.get('of')}")
        elif rule == "joined":
            m = ev.get("match") or {"probability": 0.0, "compared": []}
            compared = ", ".join(f"{c['id']} {c['probability']:.2f}" for c in m["compared"])
            lines.append(
                f"event:           {story['event_id']}: joined, probability "
                f"{m['probability']:.3f} against {compared}"
            )
            if m.get("contributions"):
                lines.append("                 " + _top(m["contributions"], top))
        elif rule == "opened":
            best = ev.get("best")
            tail = (
                f"; the nearest event {best['event']} had probability {best['probability']:.3f}"
                if best
                else "; no open event was near"
            )
            lines.append(f"event:           {story['event_id']}: opened{tail}")
        if rule in ("joined", "opened") and "probability" in ev:
            lines.append(
                f"                 decided with the night's other stories: its group merged at "
                f"mean pair probability {ev['probability']:.3f} ({ev.get('with', 0)} other "
                "stories of this run in the event)"
            )
    return lines


def _top(contributions: list[dict[str, Any]], n: int) -> str:
    return "evidence: " + ", ".join(
        f"{c['feature']} {c['value']:g} ({c['contribution']:+.2f})" for c in contributions[:n]
    )


def story_json(s: dict[str, Any]) -> dict[str, Any]:
    return {k: s.get(k) for k in EXPORT_FIELDS}


def story_line(s: dict[str, Any]) -> str:
    dup = f"  [{s['duplicate_kind']} of {s['duplicate_of']}]" if s.get("duplicate_of") else ""
    date = (s.get("published_at") or "-")[:10] + ("*" if s.get("date_source") == "file" else " ")
    return (
        f"{cell(s['id'], 24)}  {cell(s['lang'], 4)}{cell(date, 11)}  "
        f"{cell(s.get('outlet'), 14)}  {(s['title'] or '')[:70]}{LRM if dup else ''}{dup}"
    )


EXPORT_FIELDS = (
    "id",
    "lang",
    "published_at",
    "event_id",
    "duplicate_of",
    "duplicate_kind",
    "duplicate_score",
    "title",
    "outlet",
    "url",
    "date_source",
    "content_hash",
)


def event_name(
    stories: list[dict[str, Any]], lang: str | None = None
) -> tuple[str, str | None, str | None]:
    """An event's representative headline: (title, story id, language).

    In `lang` where the event has a story in it, else in the event's most common language
    (ties: the language of its first story). Among those, a story that copies nothing, then
    the one most copied within the event (the most republished), then the first published.
    `stories` in publication order, as store.event_stories gives them."""
    if not stories:
        return "", None, None
    langs = Counter(s["lang"] for s in stories)
    if lang not in langs:
        first = {s["lang"]: i for i, s in reversed(list(enumerate(stories)))}
        lang = max(langs, key=lambda k: (langs[k], -first[k]))
    copies = Counter(s["duplicate_of"] for s in stories if s.get("duplicate_of"))
    pool = [(i, s) for i, s in enumerate(stories) if s["lang"] == lang]
    _, best = min(pool, key=lambda p: (bool(p[1].get("duplicate_of")), -copies[p[1]["id"]], p[0]))
    return (best.get("title") or best["id"]), best["id"], best["lang"]


RTL_LANGS = frozenset({"ar", "fa", "ur", "ps", "he", "yi", "ckb", "sd", "ug", "dv"})


def text_dir(lang: str | None) -> str:
    """The HTML `dir` of a text in `lang`: rtl for a right-to-left language, else auto.

    A story's language is known, and its first strong letter can mislead: a Persian headline
    that opens with "AMLO" or "Brexit" is still Persian, to be laid out right to left."""
    return "rtl" if lang in RTL_LANGS else "auto"
