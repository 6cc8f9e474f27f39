"""The search behind `/` and its JSON twin `GET /search`: khabar.search.Searcher plus filters.

A query that is a stored story's id searches by that story (as `similar --id`), anything else
as free text (as `similar TEXT`). Language is the Searcher's own filter; outlet, date range
and hiding duplicates are applied to the nearest `pool` stories (at least FILTER_POOL), so a
narrow filter can return fewer than `k`: the answer says how many it looked at.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from khabar.search import MAX_K, Hit, Searcher
from khabar.store import Store
from khabar.views import hit_json

FILTER_POOL = 200
MAX_QUERY = 2000  # characters of a query in a URL; longer texts: POST /similar


@dataclass
class Filters:
    q: str = ""
    lang: str | None = None
    outlet: str | None = None
    since: str | None = None  # YYYY-MM-DD, inclusive
    until: str | None = None  # YYYY-MM-DD, inclusive
    duplicates: str = "show"  # "show" or "hide" (stories flagged as copies of another)
    k: int = 20

    def narrowing(self) -> bool:
        """True when a filter other than the language applies after the search."""
        return bool(self.outlet or self.since or self.until or self.duplicates == "hide")

    def keep(self, story: dict[str, Any]) -> bool:
        if self.outlet and (story.get("outlet") or "").casefold() != self.outlet.casefold():
            return False
        day = (story.get("published_at") or "")[:10]
        if self.since and not (day and day >= self.since):
            return False
        if self.until and not (day and day <= self.until):
            return False
        return not (self.duplicates == "hide" and story.get("duplicate_of"))


def result_json(rank: int, hit: Hit) -> dict[str, Any]:
    """A hit as `/similar` gives it, plus what the page shows beside it."""
    s = hit.story
    return {
        **hit_json(rank, hit.score, s),
        "event_id": s.get("event_id"),
        "date_source": s.get("date_source"),
        "duplicate_of": s.get("duplicate_of"),
        "duplicate_kind": s.get("duplicate_kind"),
        "duplicate_score": s.get("duplicate_score"),
    }


def find(searcher: Searcher, store: Store, f: Filters) -> dict[str, Any]:
    """{"query", "filters", "considered", "results"}: the JSON of GET /search."""
    q = f.q.strip()
    out: dict[str, Any] = {"query": None, "filters": asdict(f), "considered": 0, "results": []}
    if not q:
        return out
    pool = min(MAX_K, max(FILTER_POOL, f.k * 10)) if f.narrowing() else f.k
    story = store.get(q) if len(q) <= 256 else None
    if story is not None:
        hits = searcher.by_id(q, k=pool, lang=f.lang)
        out["query"] = {"id": q, "title": story["title"], "lang": story["lang"]}
    else:
        qlang, hits = searcher.by_text(q, k=pool, lang=f.lang)
        out["query"] = {"text": q, "lang": qlang}
    kept = [h for h in hits if f.keep(h.story)][: f.k]
    out["considered"] = len(hits)
    out["results"] = [result_json(i, h) for i, h in enumerate(kept, 1)]
    return out
