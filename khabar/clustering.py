"""The clustering step of the nightly job: duplicates, then events, for unassigned stories.

Wires `cluster` (pure decisions) to the store and the index. Stories without an event are
taken in publication order; each is compared with the stories published within the
clusterer's window around it (candidates come from the vector index), linked to a duplicate
if one qualifies, and put into an event. Existing event ids are never changed; a duplicate
group's canonical story is recomputed when an earlier-published copy arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from cluster.duplicates import DuplicateDetector, Item, Link, canonical_groups
from cluster.events import Event, EventClusterer
from cluster.evidence import Evidence
from embed import text as textlib
from embed.index import VectorIndex
from khabar.store import Store

NEIGHBOURS = 32  # index neighbours examined per story for duplicates


@dataclass
class ClusterSummary:
    stories: int = 0
    duplicates: dict[str, int] | None = None
    new_events: int = 0
    joined_events: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "stories": self.stories,
            "duplicates": self.duplicates or {},
            "new_events": self.new_events,
            "joined_events": self.joined_events,
        }


def story_day(story: dict[str, Any]) -> float:
    """Publication time in days since 1970 (ingest time when the date is unknown)."""
    value = story.get("published_at") or story["ingested_at"]
    if len(value) == 10:
        d = date.fromisoformat(value)
        return float(d.toordinal() - _EPOCH)
    dt = datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    return (dt - datetime(1970, 1, 1)).total_seconds() / 86400.0


def iso_day(day: float) -> str:
    return date.fromordinal(_EPOCH + int(np.floor(day))).isoformat()


_EPOCH = date(1970, 1, 1).toordinal()


def to_item(story: dict[str, Any], vector: np.ndarray) -> Item:
    norm = textlib.normalize(f"{story['title']}\n{story['text']}")
    return Item(
        key=story["id"],
        order=(story_day(story), story["vid"]),
        day=story_day(story),
        lang=story["lang"],
        vector=vector,
        evidence=Evidence.of(norm, story["lang"]),
        content_hash=story["content_hash"],
    )


class Clustering:
    def __init__(
        self,
        store: Store,
        index: VectorIndex,
        detector: DuplicateDetector,
        clusterer: EventClusterer,
    ):
        self.store = store
        self.index = index
        self.detector = detector
        self.clusterer = clusterer

    def items(self, stories: list[dict[str, Any]]) -> dict[str, Item]:
        if not stories:
            return {}
        vids = [s["vid"] for s in stories]
        _, langs, raw = self.store.story_vectors(vids)
        corrected = self.index.correct(langs, raw)
        by_vid = {s["vid"]: s for s in stories}
        return {
            by_vid[v]["id"]: to_item(by_vid[v], corrected[i]) for i, v in enumerate(sorted(vids))
        }

    def run(self) -> ClusterSummary:
        store = self.store
        summary = ClusterSummary(duplicates={"exact": 0, "near": 0, "translation": 0})
        fresh = store.unclustered()
        summary.stories = len(fresh)
        if not fresh:
            return summary
        days = [story_day(s) for s in fresh]
        reach = max(self.clusterer.close_after_days, self.detector.max_days) + 1
        context = store.clustered_between(iso_day(min(days) - reach), iso_day(max(days) + reach))
        items = self.items(fresh + context)
        new = sorted((items[s["id"]] for s in fresh), key=lambda i: i.order)
        new_keys = {i.key for i in new}

        # 1. Duplicate links from each new story to an earlier-processed one.
        links: list[Link] = []
        exact = store.same_content([s["content_hash"] for s in fresh])
        processed: set[str] = {s["id"] for s in context}
        for item in new:
            candidates = self.candidates(item, items, processed)
            candidates += [
                self._outside_item(k) for k in exact.get(item.content_hash, []) if k not in items
            ]
            link = self.detector.best(item, [c for c in candidates if c is not None])
            if link is not None:
                links.append(link)
            processed.add(item.key)

        # 2. Canonical stories of every group touched, existing links included.
        for s in context:
            if s["duplicate_of"]:
                links.append(Link(s["id"], s["duplicate_of"], s["duplicate_kind"], 0.0))
        order = {k: it.order for k, it in items.items()}
        for link in links:
            for key in (link.key, link.other):
                if key not in order:
                    outside = self._outside_item(key)
                    if outside is not None:
                        items[key] = outside
                        order[key] = outside.order
        groups = canonical_groups([lk for lk in links if lk.other in order], order)
        for member, canon in groups.items():
            kind, score = self.detector.describe(items[member], items[canon])
            store.update(
                member,
                {"duplicate_of": canon, "duplicate_kind": kind, "duplicate_score": round(score, 4)},
            )
            if member in new_keys:
                summary.duplicates[kind] += 1
        for s in context:  # a former duplicate that became canonical
            if s["duplicate_of"] and s["id"] not in groups:
                store.update(
                    s["id"], {"duplicate_of": None, "duplicate_kind": None, "duplicate_score": None}
                )

        # 3. Events: duplicates follow the story they were linked to.
        anchor = {lk.key: lk.other for lk in links if lk.key in new_keys}
        known = store.events_of(set(anchor.values()) - new_keys)
        events = self.open_events(context, items)
        before = {e.id for e in events}
        assigned, touched = self.clusterer.assign(
            new, events, self.new_event_id, duplicate_of=anchor, known_events=known
        )
        for key, event_id in assigned.items():
            store.update(key, {"event_id": event_id})
        summary.new_events = sum(
            1 for e in touched if e.id not in before and e.id not in known.values()
        )
        summary.joined_events = len(touched) - summary.new_events
        return summary

    def candidates(self, item: Item, items: dict[str, Item], processed: set[str]) -> list[Item]:
        """Earlier stories near `item` in the corrected space and in time."""
        scores, vids = self.index.search(item.vector[None, :], NEIGHBOURS + 1)
        stories = self.store.by_vids(int(v) for v in vids[0] if v >= 0)
        out = []
        for s in stories.values():
            key = s["id"]
            if key in processed and key in items:
                out.append(items[key])
        return out

    def _outside_item(self, key: str) -> Item | None:
        story = self.store.get(key)
        if story is None:
            return None
        return self.items([story])[key]

    def open_events(self, context: list[dict[str, Any]], items: dict[str, Item]) -> list[Event]:
        events: dict[str, Event] = {}
        for s in context:
            eid = s["event_id"]
            if not eid:
                continue
            it = items[s["id"]]
            if eid not in events:
                events[eid] = Event(eid, np.zeros_like(it.vector), 0, it.day, it.day)
            events[eid].add(it)
        return list(events.values())

    def new_event_id(self, item: Item) -> str:
        """Ids like ev-20251012-0003: the first story's date, then a counter for that date."""
        return self.store.new_event(f"ev-{iso_day(item.day).replace('-', '')}-")
