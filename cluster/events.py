"""Incremental, time-aware event clustering with stable ids, on learned probabilities.

In the manner of news-stream clustering systems (Miranda et al., 2018, "Multilingual
clustering of streaming news"): stories arrive in time order; each joins the open event it
most probably belongs to, or opens a new one. A story is judged against an event's members,
not against one member (single link lets a chain of near neighbours drift from one event
into the next) and not against the centroid alone (which blurs the particulars): the event
scorer (a logistic model over the pair features of cluster/features.py, fitted by
scripts/calibrate.py) gives the log-odds that the story and a member report one event, for
the `members` members nearest to the story, and their mean is the story's log-odds for the
event. Publication time enters as a fixed prior, not a fitted one (the development data has
no real dates): a penalty that grows like a Gaussian in the days between the story and the
event's span, up to `time_weight` of cosine (the value khabar's cosine rule used before the
decisions were learned), turned into log-odds by the scorer's own weight on the cosine for
that pair; no story joins an event more than `close_after_days` away. The story joins the
best event whose probability reaches the scorer's threshold. A duplicate always joins the
event of its canonical story. Event ids are given once and never change: a night's run
only adds stories and events.

The clusterer holds parameters only; the open events are passed in and handed back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cluster.duplicates import Item
from cluster.features import pair_features
from cluster.scorer import LogisticScorer, sigmoid


@dataclass
class Event:
    id: str
    vector_sum: np.ndarray  # sum of the members' corrected vectors
    size: int
    first_day: float
    last_day: float
    members: list[Item] = field(default_factory=list)
    # The members' vectors as rows, grown as members arrive (see `member_vectors`).
    _rows: np.ndarray | None = field(default=None, repr=False, compare=False)
    _filled: int = field(default=0, repr=False, compare=False)

    def centroid(self) -> np.ndarray:
        return self.vector_sum / max(float(np.linalg.norm(self.vector_sum)), 1e-12)

    def add(self, item: Item) -> None:
        self.vector_sum = self.vector_sum + item.vector
        self.size += 1
        self.first_day = min(self.first_day, item.day)
        self.last_day = max(self.last_day, item.day)
        self.members.append(item)

    def member_vectors(self) -> np.ndarray:
        """One row per member, in member order: a story is compared with every member of
        each of its candidate events, and one matrix product does that at C speed. The
        buffer doubles as members arrive, so a night's events are not restacked per story."""
        n, rows, filled = len(self.members), self._rows, self._filled
        if rows is None or len(rows) < n:
            grown = np.empty((max(8, 2 * n), self.members[0].vector.shape[0]), dtype=np.float32)
            if rows is not None:
                grown[:filled] = rows[:filled]
            rows = self._rows = grown
        for i in range(filled, n):
            rows[i] = self.members[i].vector
        self._filled = n
        return rows[:n]


@dataclass
class Match:
    """A story against one event: the probability and what it rests on."""

    event: str
    probability: float
    logit: float
    gap_days: float
    time_penalty: float
    compared: list[tuple[str, float]]  # (member id, probability of that pair), nearest first
    features: dict[str, float]  # the pair features against the nearest member

    def as_dict(self, scorer: LogisticScorer | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event": self.event,
            "probability": round(self.probability, 4),
            "gap_days": round(self.gap_days, 2),
            "time_penalty": round(self.time_penalty, 3),
            "compared": [{"id": k, "probability": round(p, 4)} for k, p in self.compared],
            "features": {k: round(v, 4) for k, v in self.features.items()},
        }
        if scorer is not None and self.features:
            out["contributions"] = scorer.explain(self.features)
        return out


class EventClusterer:
    def __init__(
        self,
        *,
        scorer: LogisticScorer,
        members: int,
        time_scale_days: float,
        time_weight: float,
        close_after_days: float,
    ):
        self.scorer = scorer
        self.members = members
        self.time_scale_days = time_scale_days
        self.time_weight = time_weight
        self.close_after_days = close_after_days

    CANDIDATES = 16  # events scored in full per story, the nearest by centroid cosine

    @property
    def threshold(self) -> float:
        return self.scorer.threshold

    def get_params(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer.to_dict(),
            "members": self.members,
            "time_scale_days": self.time_scale_days,
            "time_weight": self.time_weight,
            "close_after_days": self.close_after_days,
        }

    def gap_days(self, item: Item, event: Event) -> float:
        if event.first_day <= item.day <= event.last_day:
            return 0.0
        return min(abs(item.day - event.first_day), abs(item.day - event.last_day))

    def time_penalty(self, gap: float, features: dict[str, float] | None = None) -> float:
        """Log-odds taken off for a gap in days: `time_weight` cosine at most, in the units
        of the scorer's cosine weight for a pair like `features` (cross-language or not)."""
        decay = 1 - math.exp(-(gap**2) / (2 * self.time_scale_days**2))
        return self.time_weight * self.cosine_slope(features or {}) * decay

    def cosine_slope(self, features: dict[str, float]) -> float:
        """How many log-odds one unit of cosine is worth for this kind of pair."""
        slope = self.scorer.weight("cosine") + self.scorer.weight("cosine_cross") * features.get(
            "cross_language", 0.0
        )
        return max(slope, 0.0)

    NEAR_MARGIN = 1e-3  # a matrix product's cosine is within this of a pair's own

    def nearest_members(self, item: Item, event: Event) -> list[tuple[Item, float]]:
        """The event's `members` members of highest cosine to the story (the story itself
        aside), ties by id, with their cosines. One matrix product ranks them all; those
        within `NEAR_MARGIN` of the cut are ranked again by each pair's own dot product, so
        the choice is the one pair-by-pair comparison makes, whatever order the product
        summed in."""
        sims = event.member_vectors() @ item.vector
        k = self.members + 1  # room for the story itself, should it be a member
        if len(sims) > k:
            cut = np.partition(sims, len(sims) - k)[len(sims) - k]
            close = [event.members[i] for i in np.flatnonzero(sims >= cut - self.NEAR_MARGIN)]
        else:
            close = list(event.members)
        close = [m for m in close if m.key != item.key]
        if len(close) < min(self.members, len(event.members) - 1):  # a key held twice
            close = [m for m in event.members if m.key != item.key]
        exact = [float(item.vector @ m.vector) for m in close]
        order = sorted(range(len(close)), key=lambda i: (-exact[i], close[i].key))
        return [(close[i], exact[i]) for i in order[: self.members]]

    def match(self, item: Item, event: Event, detail: bool = True) -> Match | None:
        """The story against the event's nearest members; None when the event is closed to
        it (too far in time) or empty. Without `detail`, `features` holds only what the
        scorer weighs (`assign` asks for the full set for the event it keeps)."""
        gap = self.gap_days(item, event)
        if gap > self.close_after_days or not event.members:
            return None
        nearest = self.nearest_members(item, event)
        if not nearest:
            return None
        names = (*self.scorer.features, "cross_language")  # the time penalty reads it
        feats = [pair_features(item, m, names, cosine) for m, cosine in nearest]
        logits = [self.scorer.logit(f) for f in feats]
        penalty = sum(self.time_penalty(gap, f) for f in feats) / len(feats)
        z = sum(logits) / len(logits) - penalty
        return Match(
            event=event.id,
            probability=sigmoid(z),
            logit=z,
            gap_days=gap,
            time_penalty=penalty,
            compared=[(m.key, sigmoid(lg)) for (m, _), lg in zip(nearest, logits, strict=True)],
            features=pair_features(item, nearest[0][0]) if detail else feats[0],
        )

    def assign(
        self,
        items: list[Item],
        events: list[Event],
        new_id: Callable[[Item], str],
        duplicate_of: dict[str, str] | None = None,
        known_events: dict[str, str] | None = None,
    ) -> tuple[dict[str, str], list[Event], dict[str, dict[str, Any]]]:
        """Put each item, in time order, into an event.

        `duplicate_of` maps a duplicate's key to its canonical story's key; the duplicate
        joins that story's event, found among this call's assignments or in `known_events`
        (story key -> event id, for stories assigned in earlier runs). Returns
        {item key: event id}, the events touched or created, and for each item why it went
        where it went ({"rule": "duplicate" | "joined" | "opened", "match": ..., "best": ...}).
        """
        duplicate_of = duplicate_of or {}
        known_events = known_events or {}
        if not items:
            return {}, [], {}
        table = _CentroidTable(events, items[0].vector.shape[0])
        touched: dict[str, Event] = {}
        assigned: dict[str, str] = {}
        why: dict[str, dict[str, Any]] = {}
        for item in sorted(items, key=lambda i: (i.order, i.key)):
            canon = duplicate_of.get(item.key)
            target = (assigned.get(canon) or known_events.get(canon)) if canon else None
            if target is not None:
                why[item.key] = {"rule": "duplicate", "of": canon}
            else:
                best: Match | None = None
                for event in table.nearest(item.vector, self.CANDIDATES):
                    m = self.match(item, event, detail=False)
                    if m is None:
                        continue
                    if best is None or (m.logit, best.event) > (best.logit, m.event):
                        best = m
                if best is not None:  # the kept match, with every feature for its evidence
                    best = self.match(item, table.get(best.event), detail=True)
                if best is not None and best.probability >= self.threshold:
                    target = best.event
                    why[item.key] = {"rule": "joined", "match": best.as_dict(self.scorer)}
                else:
                    why[item.key] = {
                        "rule": "opened",
                        "best": None if best is None else best.as_dict(self.scorer),
                    }
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
        return assigned, list(touched.values()), why


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
        """The k events of highest centroid cosine, ties by id (not by table order)."""
        n = len(self.events)
        if n == 0:
            return []
        sims = self.matrix[:n] @ vector
        idx = np.argpartition(-sims, k)[:k] if n > k else np.arange(n)
        return sorted((self.events[i] for i in idx), key=lambda e: e.id)
