"""Incremental, time-aware event clustering with stable ids.

In the manner of news-stream clustering systems (e.g. Miranda et al., 2018, "Multilingual
clustering of streaming news"): stories arrive in time order, each joins the best open event
or opens a new one. The score of a story against an event combines
- the language-corrected cosine to the event's centroid,
- time: a penalty growing like a Gaussian in the days between the story and the event's
  span (scale `time_scale_days`); an event is closed to stories more than
  `close_after_days` away from it,
- specific evidence: the share of the story's numbers that the event's stories also state.
A duplicate always joins the event of its canonical story. Event ids are given once and
never change: a night's run only adds stories and events.

The clusterer holds parameters only; the open events are passed in and handed back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cluster.duplicates import Item


@dataclass
class Event:
    id: str
    vector_sum: np.ndarray  # sum of the members' corrected vectors
    size: int
    first_day: float
    last_day: float
    numbers: set[str] = field(default_factory=set)

    def centroid(self) -> np.ndarray:
        return self.vector_sum / max(float(np.linalg.norm(self.vector_sum)), 1e-12)

    def add(self, item: Item) -> None:
        self.vector_sum = self.vector_sum + item.vector
        self.size += 1
        self.first_day = min(self.first_day, item.day)
        self.last_day = max(self.last_day, item.day)
        self.numbers |= item.evidence.numbers


class EventClusterer:
    # No defaults: the values live in cluster/calibration.json (cluster.calibration.build).
    def __init__(
        self,
        *,
        threshold: float,
        time_scale_days: float,
        time_weight: float,
        close_after_days: float,
        number_weight: float,
    ):
        self.threshold = threshold
        self.time_scale_days = time_scale_days
        self.time_weight = time_weight
        self.close_after_days = close_after_days
        self.number_weight = number_weight

    CANDIDATES = 16  # events scored in full per story, the nearest by cosine

    def get_params(self) -> dict[str, float]:
        return dict(self.__dict__)

    def gap_days(self, item: Item, event: Event) -> float:
        if event.first_day <= item.day <= event.last_day:
            return 0.0
        return min(abs(item.day - event.first_day), abs(item.day - event.last_day))

    def score(self, item: Item, event: Event) -> float:
        gap = self.gap_days(item, event)
        if gap > self.close_after_days:
            return -math.inf
        cos = float(item.vector @ event.centroid())
        time_penalty = self.time_weight * (1 - math.exp(-(gap**2) / (2 * self.time_scale_days**2)))
        nums = item.evidence.numbers
        agree = len(nums & event.numbers) / len(nums) if nums and event.numbers else 0.5
        return cos - time_penalty + self.number_weight * (agree - 0.5)

    def assign(
        self,
        items: list[Item],
        events: list[Event],
        new_id: Callable[[Item], str],
        duplicate_of: dict[str, str] | None = None,
        known_events: dict[str, str] | None = None,
    ) -> tuple[dict[str, str], list[Event]]:
        """Put each item, in time order, into an event.

        `duplicate_of` maps a duplicate's key to its canonical story's key; the duplicate
        joins that story's event, found among this call's assignments or in `known_events`
        (story key -> event id, for stories assigned in earlier runs). Returns
        {item key: event id} and the events touched or created.
        """
        duplicate_of = duplicate_of or {}
        known_events = known_events or {}
        if not items:
            return {}, []
        table = _CentroidTable(events, items[0].vector.shape[0])
        touched: dict[str, Event] = {}
        assigned: dict[str, str] = {}
        for item in sorted(items, key=lambda i: i.order):
            canon = duplicate_of.get(item.key)
            target = (assigned.get(canon) or known_events.get(canon)) if canon else None
            if target is None:
                best, best_score = None, self.threshold
                for event in table.nearest(item.vector, self.CANDIDATES):
                    s = self.score(item, event)
                    if s >= best_score:
                        best, best_score = event, s
                target = best.id if best is not None else None
            if target is None:
                target = new_id(item)
            event = table.get(target)
            if event is None:  # a new event, or a canonical's event outside the open window
                event = table.create(
                    Event(target, np.zeros_like(item.vector), 0, item.day, item.day)
                )
            event.add(item)
            table.refresh(event)
            touched[target] = event
            assigned[item.key] = target
        return assigned, list(touched.values())


class _CentroidTable:
    """Event centroids as one matrix, so each story is compared with all events at once."""

    def __init__(self, events: list[Event], dim: int):
        self.events: list[Event] = []
        self.row: dict[str, int] = {}
        self.matrix = np.zeros((max(16, 2 * len(events)), dim), dtype=np.float32)
        for e in events:
            self.create(e)

    def get(self, event_id: str) -> Event | None:
        i = self.row.get(event_id)
        return None if i is None else self.events[i]

    def create(self, event: Event) -> Event:
        if len(self.events) == len(self.matrix):
            grown = np.zeros((2 * len(self.matrix), self.matrix.shape[1]), dtype=np.float32)
            grown[: len(self.matrix)] = self.matrix
            self.matrix = grown
        self.row[event.id] = len(self.events)
        self.events.append(event)
        self.refresh(event)
        return event

    def refresh(self, event: Event) -> None:
        self.matrix[self.row[event.id]] = event.centroid() if event.size else 0.0

    def nearest(self, vector: np.ndarray, k: int) -> list[Event]:
        n = len(self.events)
        if n == 0:
            return []
        sims = self.matrix[:n] @ vector
        top = np.argpartition(-sims, k)[:k] if n > k else np.arange(n)
        return [self.events[i] for i in top]
