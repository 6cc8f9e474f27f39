"""Stage (d), the fold: duplicates, then events, for the stories without an event.

Wires `cluster` (pure decisions) to the store. Stories without an event are folded one
publication day at a time, oldest first, and within a day in publication order (time, then
id); each is compared with its candidates (stage (c), khabar/stages/candidates.py: the
earlier stories of its window), linked to a duplicate if one qualifies, and put into an
event. Vectors are corrected with the language means as of each story's day
(khabar/langdays.py). So the result is a function of the stories, not of how they were
batched into runs: ten nights and one backfill of ten days agree. Existing event ids are
never changed; a duplicate group's canonical story is recomputed when an earlier-published
copy arrives.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from cluster.duplicates import DuplicateDetector, Item, Link, canonical_groups
from cluster.events import Event, EventClusterer
from cluster.evidence import Evidence
from embed import text as textlib
from khabar.days import day_number, iso_day, story_day
from khabar.langdays import DayMeans
from khabar.stages.candidates import window_candidates
from khabar.store import Store

__all__ = ["Clustering", "ClusterSummary", "iso_day", "story_day", "to_item"]

NEIGHBOURS = 32  # candidates per story for duplicates (khabar/stages/candidates.py)


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


def to_item(story: dict[str, Any], vector: np.ndarray) -> Item:
    norm = textlib.normalize(f"{story['title']}\n{story['text']}")
    day = story_day(story)
    return Item(
        key=story["id"],
        order=(day, story["id"]),
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
        detector: DuplicateDetector,
        clusterer: EventClusterer,
    ):
        self.store = store
        self.detector = detector
        self.clusterer = clusterer
        self._means: DayMeans | None = None
        self._items: dict[str, Item] = {}

    @property
    def reach(self) -> float:
        """Days around a story that its fold loads: its candidates and open events."""
        return max(self.clusterer.close_after_days, self.detector.max_days) + 1

    def corrected(self, stories: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        """Story id -> its vector corrected with the language means as of its day."""
        if not stories:
            return {}
        if self._means is None:  # read once per run: the fold adds no vectors
            self._means = DayMeans(self.store)
        by_vid = {s["vid"]: s for s in stories}
        vids, langs, raw = self.store.story_vectors(by_vid)
        days = [day_number(by_vid[int(v)]) for v in vids]
        vecs = self._means.center(langs, days, raw)
        return {by_vid[int(v)]["id"]: vecs[i] for i, v in enumerate(vids)}

    def items(self, stories: list[dict[str, Any]]) -> dict[str, Item]:
        """The stories as the decisions see them. Kept for the run (a story's text, date and
        vector do not change while it folds), so a story in the window of many days is
        prepared once; `forget` lets the days behind the fold go."""
        todo = [s for s in stories if s["id"] not in self._items]
        vectors = self.corrected(todo)
        for s in todo:
            if s["id"] in vectors:
                self._items[s["id"]] = to_item(s, vectors[s["id"]])
        return {s["id"]: self._items[s["id"]] for s in stories if s["id"] in self._items}

    def forget(self, before_day: float) -> None:
        self._items = {k: it for k, it in self._items.items() if it.day >= before_day}

    def run(
        self,
        changed: list[str] | None = None,
        candidates: Callable[[int], dict[str, list[str]] | None] | None = None,
        after_day: Callable[[int, ClusterSummary], None] | None = None,
    ) -> ClusterSummary:
        """Fold the stories without an event, one day at a time; re-check the duplicates of
        `changed` stories (known ids whose text changed) and of the stories that pointed at
        them. `candidates(day)` may hand in stage (c)'s answer for a day computed ahead (a
        backfill); `after_day(day, summary)` runs after each day (a backfill commits there)."""
        store = self.store
        summary = ClusterSummary(duplicates={"exact": 0, "near": 0, "translation": 0}, events=[])
        fresh = store.unclustered()
        fresh_ids = {s["id"] for s in fresh}
        recheck = [s for s in store.with_duplicates_of(changed or []) if s["id"] not in fresh_ids]
        by_day: dict[int, list[dict[str, Any]]] = {}
        for s in fresh:
            by_day.setdefault(day_number(s), []).append(s)
        if recheck and not by_day:
            by_day[min(day_number(s) for s in recheck)] = []
        touched: set[str] = set()
        # One BLAS thread: the fold's products are small (a few hundred rows), and a second
        # thread woken for each of them cost more than it shared (a 20,000-story night's
        # fold: 38.6-43.3 s with OPENBLAS_NUM_THREADS=1 against 45.2-48.3 s with two).
        with threadpool_limits(limits=1, user_api="blas"):
            for n, day in enumerate(sorted(by_day)):
                given = candidates(day) if candidates else None
                part = self.fold(by_day[day], recheck if n == 0 else [], given)
                summary.stories += part.stories
                for kind, count in (part.duplicates or {}).items():
                    summary.duplicates[kind] += count
                summary.new_events += part.new_events
                touched.update(part.events or [])
                if after_day:
                    after_day(day, part)
                self.forget(day - self.reach)
        summary.events = sorted(touched)
        summary.joined_events = len(touched) - summary.new_events
        return summary

    def pool(self, work: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The stories already in an event within reach of `work`'s days (not `work`)."""
        days = [story_day(s) for s in work]
        ids = {s["id"] for s in work}
        lo, hi = iso_day(min(days) - self.reach), iso_day(max(days) + self.reach)
        return [s for s in self.store.clustered_between(lo, hi) if s["id"] not in ids]

    def day_candidates(
        self, queue: list[Item], items: dict[str, Item], folded: set[str]
    ) -> dict[str, list[str]]:
        return window_candidates(
            queue, list(items.values()), folded, self.detector.max_days, NEIGHBOURS
        )

    def fold(
        self,
        fresh: list[dict[str, Any]],
        recheck: list[dict[str, Any]],
        given: dict[str, list[str]] | None = None,
    ) -> ClusterSummary:
        """One day's stories (and the re-checked ones) into duplicate groups and events."""
        store = self.store
        summary = ClusterSummary(duplicates={"exact": 0, "near": 0, "translation": 0})
        fresh_ids = {s["id"] for s in fresh}
        work = fresh + recheck
        summary.stories = len(fresh)
        if not work:
            return summary
        work_ids = {s["id"] for s in work}
        context = self.pool(work)
        items = self.items(work + context)
        queue = sorted((items[s["id"]] for s in work), key=lambda i: (i.order, i.key))

        # 1. Duplicate links from each story to an earlier-processed one.
        links: list[Link] = []
        exact = store.same_content([s["content_hash"] for s in work], in_event=True)
        folded = {s["id"] for s in context}
        near = self.day_candidates(queue, items, folded) if given is None else given
        # Exact copies outside the window all tie (exact, 1.0), and a tie goes to the smaller
        # id: that one alone can win, so a text republished a thousand times loads one
        # earlier copy, not a thousand. Only copies in an event count (`in_event`): a
        # backfill's later days are in the home, unfolded, and not yet comparable.
        first = {}
        for h, ids in exact.items():
            outside = [k for k in ids if k not in items]
            if outside:
                first[h] = min(outside)
        loaded = self._outside_items(first.values())
        for item in queue:
            candidates = [items[k] for k in near.get(item.key, []) if k in items]
            copy = loaded.get(first.get(item.content_hash, ""))
            if copy is not None:
                candidates.append(copy)
            found = self.detector.best(item, candidates)
            if found is not None:
                links.append(found[0])
        own_links = {lk.key: lk for lk in links}

        # 2. Canonical stories of every group touched, existing links included.
        for s in context:
            if s["duplicate_of"] and s["duplicate_of"] not in work_ids:
                links.append(Link(s["id"], s["duplicate_of"], s["duplicate_kind"], 0.0))
        ends = {key for link in links for key in (link.key, link.other)}
        items.update(self._outside_items(ends - items.keys()))
        order = {k: it.order for k, it in items.items()}
        groups = canonical_groups([lk for lk in links if lk.other in order], order)
        flagged = set()
        scorers = self.detector.scorers
        writes: list[tuple[str, dict[str, Any]]] = []  # (story, fields), in order
        stored = {s["id"]: s["duplicate_of"] for s in context}
        for member, canon in groups.items():
            if member not in work_ids and stored.get(member) == canon:
                flagged.add(member)  # decided on an earlier day against the same story
                continue
            decision = self.detector.describe(items[member], items[canon])
            if decision.kind is None:
                continue
            flagged.add(member)
            evidence = decision.as_dict(scorers)
            linked = own_links.get(member)
            if linked is not None and linked.other != canon:  # joined the group via a copy
                evidence["via"] = linked.other
            writes.append(
                (
                    member,
                    {
                        "duplicate_of": canon,
                        "duplicate_kind": decision.kind,
                        "duplicate_score": round(decision.probability, 4),
                        "duplicate_evidence": json.dumps(evidence, ensure_ascii=False),
                    },
                )
            )
            if member in fresh_ids:
                summary.duplicates[decision.kind] += 1
        for s in context + recheck:  # no longer a duplicate: became canonical, or text changed
            if s["duplicate_of"] and s["id"] not in flagged:
                writes.append(
                    (
                        s["id"],
                        {
                            "duplicate_of": None,
                            "duplicate_kind": None,
                            "duplicate_score": None,
                            "duplicate_evidence": None,
                        },
                    )
                )

        # 3. Events for the stories without one: duplicates follow the story they linked to.
        new = [items[s["id"]] for s in fresh]
        anchor = {k: lk.other for k, lk in own_links.items() if k in fresh_ids}
        known = store.events_of(set(anchor.values()) - fresh_ids)
        events = self.open_events(context + recheck, items)
        before = {e.id for e in events} | set(known.values())
        assigned, touched, why = self.clusterer.assign(
            new,
            events,
            self.new_event_id,
            duplicate_of=anchor,
            known_events=known,
            neighbours=near,
        )
        for key, event_id in assigned.items():
            reason = why.get(key, {})
            match = reason.get("match") or reason.get("best") or {}
            score = reason.get("probability", match.get("probability"))
            writes.append(
                (
                    key,
                    {
                        "event_id": event_id,
                        "event_score": score,
                        "event_evidence": json.dumps(reason, ensure_ascii=False),
                    },
                )
            )
        store.update_many(writes)  # one statement per kind of write (`Store.update_many`)
        summary.events = sorted(e.id for e in touched)
        summary.new_events = sum(1 for e in touched if e.id not in before)
        summary.joined_events = len(touched) - summary.new_events
        return summary

    def _outside_items(self, keys: Iterable[str]) -> dict[str, Item]:
        """Stories outside the loaded window, read at once."""
        return self.items(list(self.store.by_ids(keys).values()))

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
