"""How stories and hits look: one line for a terminal, one object for JSON.

Shared by the command line and the HTTP service, so both give the same shapes. Terminal
lines are built for right-to-left text: the headline comes last, and a right-to-left value
in a middle column is closed with a left-to-right mark so the next column does not join
its run in a bidi-aware terminal.
"""

from __future__ import annotations

import unicodedata
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


def show_json(story: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in story.items() if k not in HIDDEN_FIELDS}


def story_json(s: dict[str, Any]) -> dict[str, Any]:
    return {k: s.get(k) for k in EXPORT_FIELDS}


def story_line(s: dict[str, Any]) -> str:
    dup = f"  [{s['duplicate_kind']} of {s['duplicate_of']}]" if s.get("duplicate_of") else ""
    date = (s.get("published_at") or "-")[:10]
    return (
        f"{cell(s['id'], 24)}  {cell(s['lang'], 4)}{cell(date, 10)}  "
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
