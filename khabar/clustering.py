"""The clustering step of the nightly job: duplicates, then events, for unassigned stories.

Wires `cluster` (pure decisions) to the store and the index. Stories without an event are
taken in publication order; each is compared with the stories published within the
clusterer's window around it (candidates come from the vector index), linked to a duplicate
if one qualifies, and put into an event. Existing event ids are never changed; a duplicate
group's canonical story is recomputed when an earlier-published copy arrives.
"""

from __future__ import annotations

import json
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
    events: list[str] | None = None  # ids of the events that received stories

    def as_dict(self) -> dict[str, Any]:
        return {
            "stories": self.stories,
            "duplicates": self.duplicates or {},
            "new_events": self.new_events,
            "joined_events": self.joined_events,
            "events": self.events or [],
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
    day = story_day(story)
    return Item(
        key=story["id"],
        order=(day, story["vid"]),
        day=day,
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
        by_vid = {s["vid"]: s for s in stories}
        vids, langs, raw = self.store.story_vectors(by_vid)
        corrected = self.index.correct(langs, raw)
        return {
            by_vid[int(v)]["id"]: to_item(by_vid[int(v)], corrected[i]) for i, v in enumerate(vids)
        }

    def run(self, changed: list[str] | None = None) -> ClusterSummary:
        """Cluster the stories without an event; re-check the duplicates of `changed` stories
        (known ids whose text changed) and of the stories that pointed at them."""
        store = self.store
        summary = ClusterSummary(duplicates={"exact": 0, "near": 0, "translation": 0})
        fresh = store.unclustered()
        fresh_ids = {s["id"] for s in fresh}
        recheck = [s for s in store.with_duplicates_of(changed or []) if s["id"] not in fresh_ids]
        work = fresh + recheck
        summary.stories = len(fresh)
        if not work:
            return summary
        work_ids = {s["id"] for s in work}
        days = [story_day(s) for s in work]
        reach = max(self.clusterer.close_after_days, self.detector.max_days) + 1
        context = [
            s
            for s in store.clustered_between(iso_day(min(days) - reach), iso_day(max(days) + reach))
            if s["id"] not in work_ids
        ]
        items = self.items(work + context)
        queue = sorted((items[s["id"]] for s in work), key=lambda i: i.order)

        # 1. Duplicate links from each story to an earlier-processed one.
        links: list[Link] = []
        exact = store.same_content([s["content_hash"] for s in work])
        processed: set[str] = {s["id"] for s in context}
        key_of = {it.order[1]: key for key, it in items.items()}  # vid -> story id
        neighbours = self.neighbours(queue)
        for item in queue:
            candidates = self.candidates(neighbours[item.key], items, key_of, processed)
            candidates += [
                self._outside_item(k) for k in exact.get(item.content_hash, []) if k not in items
            ]
            found = self.detector.best(item, [c for c in candidates if c is not None])
            if found is not None:
                links.append(found[0])
            processed.add(item.key)
        own_links = {lk.key: lk for lk in links}

        # 2. Canonical stories of every group touched, existing links included.
        for s in context:
            if s["duplicate_of"] and s["duplicate_of"] not in work_ids:
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
        flagged = set()
        scorers = self.detector.scorers
        for member, canon in groups.items():
            decision = self.detector.describe(items[member], items[canon])
            if decision.kind is None:
                continue
            flagged.add(member)
            evidence = decision.as_dict(scorers)
            linked = own_links.get(member)
            if linked is not None and linked.other != canon:  # joined the group via a copy
                evidence["via"] = linked.other
            store.update(
                member,
                {
                    "duplicate_of": canon,
                    "duplicate_kind": decision.kind,
                    "duplicate_score": round(decision.probability, 4),
                    "duplicate_evidence": json.dumps(evidence, ensure_ascii=False),
                },
            )
            if member in fresh_ids:
                summary.duplicates[decision.kind] += 1
        for s in context + recheck:  # no longer a duplicate: became canonical, or text changed
            if s["duplicate_of"] and s["id"] not in flagged:
                store.update(
                    s["id"],
                    {
                        "duplicate_of": None,
                        "duplicate_kind": None,
                        "duplicate_score": None,
                        "duplicate_evidence": None,
                    },
                )

        # 3. Events for the stories without one: duplicates follow the story they linked to.
        new = [items[s["id"]] for s in fresh]
        anchor = {k: lk.other for k, lk in own_links.items() if k in fresh_ids}
        known = store.events_of(set(anchor.values()) - fresh_ids)
        events = self.open_events(context + recheck, items)
        before = {e.id for e in events} | set(known.values())
        assigned, touched, why = self.clusterer.assign(
            new, events, self.new_event_id, duplicate_of=anchor, known_events=known
        )
        for key, event_id in assigned.items():
            reason = why.get(key, {})
            match = reason.get("match") or reason.get("best") or {}
            store.update(
                key,
                {
                    "event_id": event_id,
                    "event_score": match.get("probability"),
                    "event_evidence": json.dumps(reason, ensure_ascii=False),
                },
            )
        summary.events = sorted(e.id for e in touched)
        summary.new_events = sum(1 for e in touched if e.id not in before)
        summary.joined_events = len(touched) - summary.new_events
        return summary

    def neighbours(self, queue: list[Item]) -> dict[str, np.ndarray]:
        """Each queued story's nearest vids in the corrected space, in one index search (one
        search per story costs a thread start-up each)."""
        if not queue:
            return {}
        _, vids = self.index.search(np.stack([it.vector for it in queue]), NEIGHBOURS + 1)
        return {it.key: vids[i] for i, it in enumerate(queue)}

    def candidates(
        self, vids: np.ndarray, items: dict[str, Item], key_of: dict[int, str], processed: set[str]
    ) -> list[Item]:
        """Earlier stories among a story's neighbours and in time (the loaded window: a
        neighbour outside it is too far in time to matter), in vid order."""
        keys = (key_of.get(int(v)) for v in sorted(int(v) for v in vids if v >= 0))
        return [items[k] for k in keys if k is not None and k in processed]

    def _outside_item(self, key: str) -> Item | None:
        story = self.store.get(key)
        if story is None:
            return None
        return self.items([story])[key]

    def open_events(self, context: list[dict[str, Any]], items: dict[str, Item]) -> list[Event]:
        """The events of the stories around this run's, with those stories as members (in
        publication order, so that an event is the same whichever run built it)."""
        events: dict[str, Event] = {}
        for s in sorted(context, key=lambda s: (items[s["id"]].order, s["id"])):
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
