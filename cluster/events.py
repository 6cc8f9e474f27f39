"""Incremental, time-aware event clustering with stable ids, on learned probabilities.

In the manner of news-stream clustering systems (Miranda et al., 2018, "Multilingual
clustering of streaming news"): stories arrive day by day; each day's stories join the open
events they most probably belong to, or open new ones. The unit of evidence is a pair: the
event scorer (a logistic model over the pair features of cluster/features.py, fitted by
scripts/calibrate.py) gives the probability that two stories report one event, less a time
prior. Publication time enters as a fixed prior, not a fitted one (the development data has
no real dates): a penalty that grows like a Gaussian in the days between a story and an
event's span, up to `time_weight` of cosine, turned into log-odds by the scorer's own
weight on the cosine for that pair; no story joins an event more than `close_after_days`
away.

A day is decided as a whole, not one story after another (cluster/merging.py): every story
(with the copies that follow it) starts as its own group, and the two groups most likely to
be one event are merged first, as long as that likelihood reaches the scorer's threshold.
The likelihood of two groups is the mean probability over their pairs (average linkage: a
chain of near neighbours does not drift from one event into the next, as single link
would); against an event of earlier nights, each story counts its `members` nearest members
(a week-long event drifts, and a new report need only match the part of it that it
continues). Taking stories one at a time instead made the outcome depend on their order: on
697 Persian agency stories of one night, the greedy pass put 44% of the hard negatives
together with the story they were retrieved for, and this pass 11% (README, Quality).

A duplicate always joins the event of its canonical story. Event ids are given once and
never change: a night's run only adds stories and events, and two events of earlier nights
are never merged. The clusterer holds parameters only; the open events are passed in and
handed back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from math import inf
from typing import Any, NamedTuple

import numpy as np

from cluster.duplicates import Item, components
from cluster.features import EVIDENCE, pair_features, pair_values
from cluster.merging import merge_groups
from cluster.scorer import LogisticScorer, logit, sigmoid


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

    def without(self, item: Item) -> Event | None:
        """The event with its other members only: what a story that joined it is explained
        against (its own day would otherwise close the gap). None when it holds nothing else.
        The rows are this event's less the story's: re-adding a large event's members one by
        one for every story that joined it was 4% of a 20,000-story night's fold."""
        keep = [i for i, m in enumerate(self.members) if m.key != item.key]
        if not keep:
            return None
        others = [self.members[i] for i in keep]
        days = [m.day for m in others]
        rest = self.vector_sum - item.vector * (len(self.members) - len(keep))
        out = Event(self.id, rest, len(keep), min(days), max(days), others)
        out._rows, out._filled = self.member_vectors()[keep], len(keep)
        return out


class _Weights(NamedTuple):
    intercept: float
    cosine: float
    cosine_cross: float
    cross_language: float
    short: float


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


# Features computed for a whole block of pairs at once; any other feature a scorer weighs is
# computed pair by pair from the stories' evidence.
BLOCK_FEATURES = ("cosine", "cross_language", "cosine_cross", "short")


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
        self._weights_of: tuple[Any, _Weights] | None = None  # a cache (see `_weights`)

    CANDIDATES = 16  # open events a story is compared with, the nearest by centroid cosine
    NEIGHBOURS = 16  # stories of its own call a story is compared with, when none are given

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

    # --- one pair, one story against one event --------------------------------------------

    def gap_days(self, item: Item, event: Event) -> float:
        return _gap(item.day, event.first_day, event.last_day)

    def time_penalty(self, gap: float, features: dict[str, float] | None = None) -> float:
        """Log-odds taken off for a gap in days: `decay(gap)` of the whole prior."""
        return self.prior(features or {}) * self.decay(gap)

    def prior(self, features: dict[str, float]) -> float:
        """The log-odds the whole time prior takes off a pair like `features`: `time_weight`
        cosine, in the units of the scorer's cosine weight for it (cross-language or not)."""
        return self.time_weight * self.cosine_slope(features)

    def decay(self, gap: float) -> float:
        """How much of the time prior a gap of `gap` days takes: 0 at no gap, 1 far apart."""
        return 1 - math.exp(-(gap**2) / (2 * self.time_scale_days**2))

    def cosine_slope(self, features: dict[str, float]) -> float:
        """How many log-odds one unit of cosine is worth for this kind of pair."""
        w = self._weights()
        return max(w.cosine + w.cosine_cross * features.get("cross_language", 0.0), 0.0)

    def _weights(self) -> _Weights:
        """The scorer's weights by name, read once per fitted scorer (a match reads them for
        every pair it scores)."""
        s = self.scorer
        cached = self._weights_of
        if cached is None or cached[0] is not s.weights_:
            names = ("cosine", "cosine_cross", "cross_language", "short")
            values = _Weights(s.intercept_, *(s.weight(f) for f in names))
            cached = self._weights_of = (s.weights_, values)
        return cached[1]

    NEAR_MARGIN = 1e-3  # a matrix product's cosine is within this of a pair's own

    def nearest_members(self, item: Item, event: Event) -> list[tuple[Item, float]]:
        """The event's `members` members of highest cosine to the story (the story itself
        aside), ties by id, with their cosines."""
        return self.nearest_among(item, event.members, event.member_vectors())

    def nearest_among(
        self,
        item: Item,
        members: list[Item],
        rows: np.ndarray,
        sims: np.ndarray | None = None,
        floor: float = -inf,
    ) -> list[tuple[Item, float]]:
        """`nearest_members` over a list of members and their vectors as rows. One matrix
        product ranks them all; those within `NEAR_MARGIN` of the cut are ranked again by
        each pair's own dot product, so the choice is the one pair-by-pair comparison makes,
        whatever order the product summed in. The nearest of a list are the nearest of its
        parts' nearest, which lets a growing event be ranked a part at a time.

        `sims`: the product `rows @ item.vector` when the caller has it (a column of one
        product over many stories). `floor`: a cosine no member below can be kept for (the
        last of the nearest kept from the parts before, less `NEAR_MARGIN`), so that only
        the members that may enter are ranked pair by pair; fewer than `members` may come
        back then."""
        k = self.members + 1  # room for the story itself, should it be a member
        n = len(members)
        if n > k or (floor > -inf and n):
            sims = rows @ item.vector if sims is None else sims
            low = floor
            if n > k:
                cut = float(np.partition(sims, n - k)[n - k]) - self.NEAR_MARGIN
                held = [i for i in np.flatnonzero(sims >= cut) if members[i].key != item.key]
                if len(held) >= min(self.members, n - 1):  # else a key held twice
                    low = max(low, cut)
            close = [members[i] for i in np.flatnonzero(sims >= low)]
        else:
            close = list(members)
        close = [m for m in close if m.key != item.key]
        exact = [float(item.vector @ m.vector) for m in close]
        order = sorted(range(len(close)), key=lambda i: (-exact[i], close[i].key))
        return [(close[i], exact[i]) for i in order[: self.members]]

    def pair_terms(
        self, item: Item, member: Item, cosine: float
    ) -> tuple[dict[str, float], float, float]:
        """A pair's features (those the scorer weighs), its log-odds before the time prior,
        and the log-odds the whole prior would take off it (times `decay(gap)` for a gap):
        the parts of a pair's probability that do not depend on the event's span."""
        names = (*self.scorer.features, "cross_language")  # the time penalty reads it
        features = pair_features(item, member, names, cosine)
        return features, self.scorer.logit(features), self.prior(features)

    def pair_logit(self, item: Item, member: Item, cosine: float) -> tuple[float, float]:
        """`pair_terms` without the features: the pair's log-odds before the time prior and
        the whole prior's log-odds, the same floats, for the pairs a fold ranks by the
        million (`_Day._grow`)."""
        z = self.scorer.logit_of(pair_values(item, member, self.scorer.features, cosine))
        cross = 0.0 if item.lang == member.lang else 1.0  # EVIDENCE["cross_language"]
        return z, self.prior({"cross_language": cross})

    def match(self, item: Item, event: Event, detail: bool = True) -> Match | None:
        """The story against the event's nearest members: the mean of the pairs'
        probabilities after the time prior. None when the event is closed to it (too far in
        time) or holds nothing else. Without `detail`, `features` holds only what the scorer
        weighs."""
        gap = self.gap_days(item, event)
        if gap > self.close_after_days or not event.members:
            return None
        nearest = self.nearest_members(item, event)
        if not nearest:
            return None
        terms = [self.pair_terms(item, m, cosine) for m, cosine in nearest]
        decay = self.decay(gap)  # one gap for every pair
        penalties = [prior * decay for _, _, prior in terms]
        probs = [sigmoid(z - pen) for (_, z, _), pen in zip(terms, penalties, strict=True)]
        p = sum(probs) / len(probs)
        return Match(
            event=event.id,
            probability=p,
            logit=logit(p),
            gap_days=gap,
            time_penalty=sum(penalties) / len(penalties),
            compared=[(m.key, q) for (m, _), q in zip(nearest, probs, strict=True)],
            features=pair_features(item, nearest[0][0]) if detail else terms[0][0],
        )

    # --- blocks of pairs ---------------------------------------------------------------------

    def probabilities(
        self, left: list[Item], right: list[Item], cosines: np.ndarray, gaps: np.ndarray
    ) -> np.ndarray:
        """P(one event) of every pair (left[i], right[j]) after the time prior, from their
        cosines and gaps in days (arrays of shape len(left) x len(right)): what `match` gives
        a pair, for a block at once."""
        s = self.scorer
        cross = (
            np.array([a.lang for a in left])[:, None] != np.array([b.lang for b in right])[None, :]
        ).astype(np.float64)
        z = np.full(cosines.shape, s.intercept_)
        for f in s.features:
            w = s.weight(f)
            if f == "cosine":
                z += w * cosines
            elif f == "cosine_cross":
                z += w * cosines * cross
            elif f == "cross_language":
                z += w * cross
            elif f == "short":
                la = np.array([max(a.evidence.length, 1) for a in left], dtype=np.float64)
                lb = np.array([max(b.evidence.length, 1) for b in right], dtype=np.float64)
                z += w / np.sqrt(np.minimum(la[:, None], lb[None, :]))
            else:
                fn = EVIDENCE[f]
                z += w * np.array([[fn(a.evidence, b.evidence) for b in right] for a in left])
        slope = np.maximum(s.weight("cosine") + s.weight("cosine_cross") * cross, 0.0)
        decay = 1 - np.exp(-(gaps**2) / (2 * self.time_scale_days**2))
        z -= self.time_weight * slope * decay
        return 1.0 / (1.0 + np.exp(-z))

    # --- a day's stories into events ---------------------------------------------------------

    def assign(
        self,
        items: list[Item],
        events: list[Event],
        new_id: Callable[[Item], str],
        duplicate_of: dict[str, str] | None = None,
        known_events: dict[str, str] | None = None,
        neighbours: dict[str, list[str]] | None = None,
    ) -> tuple[dict[str, str], list[Event], dict[str, dict[str, Any]]]:
        """Put the items (one day's, or any call's) into events, all at once (see the module
        docstring).

        `duplicate_of` maps a duplicate's key to the story it copies; the duplicate joins
        that story's event, found among this call's stories or in `known_events` (story key
        -> event id, for stories assigned in earlier runs). `neighbours` (item key -> keys of
        stories it may be one event with: this call's or members of `events`) says which
        groups to compare; without it each story is compared with its NEIGHBOURS nearest
        stories of the call. Returns {item key: event id}, the events touched or created,
        and for each item why it went where it went ({"rule": "duplicate" | "joined" |
        "opened", ...}).
        """
        if not items:
            return {}, [], {}
        return _Day(self, items, events, duplicate_of or {}, known_events or {}).run(
            new_id, neighbours
        )


def _gap(day: float, first: float, last: float) -> float:
    if first <= day <= last:
        return 0.0
    return min(abs(day - first), abs(day - last))


@dataclass
class _Group:
    """Stories that end in one event: an event of earlier nights (`event` set, its id kept)
    or a new one; `new` holds this call's stories, in the order they joined."""

    id: str
    new: list[Item]
    event: Event | None = None

    @property
    def fixed(self) -> bool:
        return self.event is not None

    def span(self) -> tuple[float, float]:
        days = [it.day for it in self.new]
        if self.event is not None:
            days += [self.event.first_day, self.event.last_day]
        return min(days), max(days)


class _Day:
    """One call of `EventClusterer.assign`: groups, their linkage, the merge, the reasons."""

    def __init__(
        self,
        clusterer: EventClusterer,
        items: list[Item],
        events: list[Event],
        duplicate_of: dict[str, str],
        known_events: dict[str, str],
    ):
        self.c = clusterer
        self.items = sorted(items, key=lambda i: (i.order, i.key))
        self.table = _CentroidTable(events, self.items[0].vector.shape[0])
        self.groups: dict[str, _Group] = {}
        self.group_of: dict[str, str] = {}  # story key (new or a member of `events`) -> group
        self.why: dict[str, dict[str, Any]] = {}
        self.merged_at: dict[str, float] = {}  # item key -> the merge that brought it
        self.pairs: dict[tuple[str, str], float] = {}  # singleton pairs scored in bulk
        self._views: dict[str, Event] = {}  # fixed group -> its event with `new` (`_view`)
        # (story key, fixed group) -> (members ranked, the nearest and their terms): `_against`
        self._nearest: dict[tuple[str, str], tuple[int, list[tuple[Item, float, Any]]]] = {}
        for e in events:
            self._add(_Group("E:" + e.id, [], e))
        self._seed(duplicate_of, known_events)

    def _add(self, group: _Group) -> None:
        self.groups[group.id] = group
        members = group.event.members if group.event is not None else []
        for it in (*members, *group.new):
            self.group_of[it.key] = group.id

    def _seed(self, duplicate_of: dict[str, str], known_events: dict[str, str]) -> None:
        """Each story its own group; a copy in the group of the story it copies (an event of
        earlier nights when that story is one of theirs)."""
        mine = {it.key for it in self.items}
        links = [(k, v) for k, v in duplicate_of.items() if k in mine and v in mine]
        root = components(links + [(it.key, it.key) for it in self.items])
        by_root: dict[str, list[Item]] = {}
        for it in self.items:
            by_root.setdefault(root[it.key], []).append(it)
        for members in by_root.values():
            target = None
            for it in members:
                other = duplicate_of.get(it.key)
                if other is not None and other not in mine:
                    target = known_events.get(other) or self._event_holding(other)
                    if target is not None:
                        break
            for it in members:
                if it.key in duplicate_of:
                    self.why[it.key] = {"rule": "duplicate", "of": duplicate_of[it.key]}
            if target is None:
                self._add(_Group("N:" + members[0].key, list(members)))
                continue
            gid = "E:" + target
            if gid not in self.groups:  # the event of a copy's original, no longer open
                self._add(_Group(gid, [], _closed_event(target, members[0])))
            self.groups[gid].new += members
            for it in members:
                self.group_of[it.key] = gid

    def _event_holding(self, key: str) -> str | None:
        gid = self.group_of.get(key)
        return gid[2:] if gid is not None and gid.startswith("E:") else None

    # --- linkage ---------------------------------------------------------------------------

    def members(self, group: _Group) -> list[Item]:
        return (list(group.event.members) if group.event is not None else []) + group.new

    def linkage(self, a: str, b: str) -> float | None:
        """The mean probability that the two groups' stories report one event; None when
        they may not merge (two events of earlier nights, or too far apart in time)."""
        ga, gb = self.groups[a], self.groups[b]
        if ga.fixed and gb.fixed:
            return None
        if gb.fixed:
            ga, gb = gb, ga
        if ga.fixed:
            return self._against_event(ga, gb.new)
        (fa, la), (fb, lb) = ga.span(), gb.span()
        if max(fa, fb) - min(la, lb) > self.c.close_after_days:
            return None
        if len(ga.new) == 1 and len(gb.new) == 1:
            key = tuple(sorted((ga.new[0].key, gb.new[0].key)))
            if key in self.pairs:
                return self.pairs[key]
        left, right = ga.new, gb.new
        cos = (
            np.stack([x.vector for x in left]).astype(np.float64)
            @ np.stack([y.vector for y in right]).astype(np.float64).T
        )
        gaps = np.abs(np.array([x.day for x in left])[:, None] - np.array([y.day for y in right]))
        return float(self.c.probabilities(left, right, cos, gaps).mean())

    def _against_event(self, group: _Group, stories: list[Item]) -> float | None:
        """Each story against its nearest members of the event (as `match`, with this call's
        stories that joined it already among them), averaged over all those pairs."""
        assert group.event is not None
        event = self._view(group)
        probs: list[float] = []
        for it in stories:
            p = self._against(group.id, event, it)
            if p is None:
                return None
            probs += p
        return sum(probs) / len(probs) if probs else None

    def _against(self, gid: str, view: Event, item: Item) -> list[float] | None:
        """`match(item, view)`'s pair probabilities (None where it gives None), with the
        story's nearest members and their pairs' terms kept from one call to the next
        (`_grow`): only the gap is new; the probabilities are those `match` gives, to the
        bit (the same terms, summed in the same order)."""
        gap = self.c.gap_days(item, view)
        if gap > self.c.close_after_days or not view.members:
            return None
        top = self._grow(gid, view, item)
        if not top:
            return None
        decay = self.c.decay(gap)
        return [sigmoid(z - prior * decay) for _, _, (z, prior) in top]

    def _grow(
        self, gid: str, view: Event, item: Item, sims: np.ndarray | None = None
    ) -> list[tuple[Item, float, Any]]:
        """The story's nearest members of the view and their pairs' terms, brought up to
        date. Why: after each merge the grown event's linkage to each of its neighbours is
        computed again, and the stories of those neighbours were matched against nearly the
        same event each time. A view only grows, so only the members it gained since the
        last call are ranked, and only those that may displace one kept (`nearest_among`'s
        floor). `sims`: those members' cosines from a product over many stories
        (`prepare`)."""
        covered, top = self._nearest.get((item.key, gid), (0, []))
        n = len(view.members)
        if covered < n:
            k = self.c.members
            floor = top[-1][1] - self.c.NEAR_MARGIN if len(top) >= k else -inf
            if sims is not None and sims.max() < floor:
                fresh = []  # none may enter, known without ranking them
            else:
                rows = view.member_vectors()[covered:]
                fresh = self.c.nearest_among(item, view.members[covered:], rows, sims, floor)
            if fresh:
                ranked = sorted([*top, *((m, cos, None) for m, cos in fresh)], key=_rank)
                top = [
                    (m, cos, terms if terms is not None else self.c.pair_logit(item, m, cos))
                    for m, cos, terms in ranked[:k]
                ]
            self._nearest[(item.key, gid)] = (n, top)
        return top

    def prepare(self, gid: str, others: list[str]) -> None:
        """Before an event of earlier nights is linked again to its neighbours: the cosines
        of the members it gained against all their stories, in one matrix product, rather
        than one small product a story (`merge_groups`' `prepare`)."""
        group = self.groups[gid]
        if not group.fixed:
            return
        view = self._view(group)
        n = len(view.members)
        close = self.c.close_after_days
        need: list[tuple[Item, int]] = []
        for other in others:
            for it in self.groups[other].new if not self.groups[other].fixed else ():
                covered = self._nearest.get((it.key, gid), (0, ()))[0]
                if covered < n and self.c.gap_days(it, view) <= close:
                    need.append((it, covered))
        if len(need) < 2:
            return  # one story: its own product is as fast
        lo = min(c for _, c in need)
        sims = np.stack([it.vector for it, _ in need]) @ view.member_vectors()[lo:].T
        for j, (it, covered) in enumerate(need):
            self._grow(gid, view, it, sims[j, covered - lo :])

    def _view(self, group: _Group) -> Event:
        """The event of earlier nights with the stories that joined it so far, kept and grown
        as it absorbs more: after each merge the grown event's linkage to each of
        its neighbours is computed again, and a fresh copy (members restacked for the matrix
        product) per neighbour was most of a large night's fold. A group's `new` only grows,
        so its length says which stories the view still lacks; the view adds them in the
        same order a fresh copy would, so its sums and rows are the same to the bit."""
        assert group.event is not None
        if not group.new:
            return group.event
        view = self._views.get(group.id)
        if view is None:
            view = self._views[group.id] = _copy(group.event)
        for it in group.new[len(view.members) - len(group.event.members) :]:
            view.add(it)
        return view

    # --- the day ---------------------------------------------------------------------------

    def edges(self, neighbours: dict[str, list[str]] | None) -> list[tuple[str, str]]:
        out = []
        for it in self.items:
            g = self.group_of[it.key]
            for e in self.table.nearest(it.vector, self.c.CANDIDATES):
                out.append((g, "E:" + e.id))
        near = neighbours if neighbours is not None else self._nearest_stories()
        pairs = []
        for it in self.items:
            for other in near.get(it.key, []):
                if other in self.group_of:
                    out.append((self.group_of[it.key], self.group_of[other]))
                    pairs.append((it.key, other))
        self._score_pairs(pairs)
        return [(a, b) for a, b in out if a in self.groups and b in self.groups]

    def _nearest_stories(self) -> dict[str, list[str]]:
        """Each story's NEIGHBOURS most similar stories of this call (ties by order)."""
        k = min(self.c.NEIGHBOURS, len(self.items) - 1)
        if k <= 0:
            return {}
        vecs = np.stack([it.vector for it in self.items]).astype(np.float64)
        out = {}
        for s in range(0, len(vecs), 512):
            sims = vecs[s : s + 512] @ vecs.T
            for r, row in enumerate(sims, start=s):
                row[r] = -np.inf
                top = np.lexsort((np.arange(len(row)), -row))[:k]
                out[self.items[r].key] = [self.items[j].key for j in top]
        return out

    def _score_pairs(self, pairs: list[tuple[str, str]]) -> None:
        """The probabilities of candidate pairs of this call's stories, in one block: most
        linkages a night computes are of two single stories."""
        mine = {it.key: it for it in self.items}
        keys = sorted({tuple(sorted(p)) for p in pairs if p[0] in mine and p[1] in mine})
        if not keys:
            return
        a = [mine[x] for x, _ in keys]
        b = [mine[y] for _, y in keys]
        va = np.stack([x.vector for x in a]).astype(np.float64)
        vb = np.stack([y.vector for y in b]).astype(np.float64)
        cos = np.einsum("ij,ij->i", va, vb)
        gaps = np.abs(np.array([x.day for x in a]) - np.array([y.day for y in b]))
        probs = np.empty(len(keys))
        for s in range(0, len(keys), 4096):  # a diagonal block: pair i is (a[i], b[i])
            part = slice(s, s + 4096)
            probs[part] = self._diagonal(a[part], b[part], cos[part], gaps[part])
        self.pairs.update({k: float(p) for k, p in zip(keys, probs, strict=True)})

    def _diagonal(self, a, b, cos, gaps) -> np.ndarray:
        s = self.c.scorer
        if all(f in BLOCK_FEATURES for f in s.features):
            cross = np.array([x.lang != y.lang for x, y in zip(a, b, strict=True)], dtype=float)
            short = 1 / np.sqrt(
                np.minimum(
                    [max(x.evidence.length, 1) for x in a], [max(y.evidence.length, 1) for y in b]
                )
            )
            values = {"cosine": cos, "cross_language": cross, "cosine_cross": cos * cross}
            values["short"] = short
            z = s.intercept_ + sum(s.weight(f) * values[f] for f in s.features)
            slope = np.maximum(s.weight("cosine") + s.weight("cosine_cross") * cross, 0.0)
            decay = 1 - np.exp(-(gaps**2) / (2 * self.c.time_scale_days**2))
            return 1 / (1 + np.exp(-(z - self.c.time_weight * slope * decay)))
        return np.array(
            [
                self.c.probabilities([x], [y], np.array([[c]]), np.array([[g]]))[0, 0]
                for x, y, c, g in zip(a, b, cos, gaps, strict=True)
            ]
        )

    def run(
        self, new_id: Callable[[Item], str], neighbours: dict[str, list[str]] | None
    ) -> tuple[dict[str, str], list[Event], dict[str, dict[str, Any]]]:
        fixed = {g for g, grp in self.groups.items() if grp.fixed}
        merge_groups(
            sorted(self.groups),
            self.edges(neighbours),
            self.linkage,
            self.c.threshold,
            fixed,
            self._absorb,
            prepare=self.prepare,
        )
        return self._finish(new_id)

    def _absorb(self, kept: str, gone: str, linkage: float) -> None:
        a, b = self.groups[kept], self.groups.pop(gone)
        for it in (*a.new, *b.new):
            self.merged_at.setdefault(it.key, linkage)
        a.new += b.new
        for it in b.new:
            self.group_of[it.key] = kept

    def _finish(self, new_id: Callable[[Item], str]):
        assigned: dict[str, str] = {}
        touched: dict[str, Event] = {}
        rank = {it.key: n for n, it in enumerate(self.items)}
        groups = [g for g in self.groups.values() if g.new]
        groups.sort(key=lambda g: min(rank[it.key] for it in g.new))
        opened: set[str] = set()
        for g in groups:
            stories = sorted(g.new, key=lambda it: rank[it.key])
            if g.event is not None:
                event = g.event
                if self.table.get(event.id) is None:
                    self.table.create(event)
            else:
                first = stories[0]
                eid = new_id(first)
                event = self.table.create(
                    Event(eid, np.zeros_like(first.vector), 0, first.day, first.day)
                )
                opened.add(first.key)
            for it in stories:
                event.add(it)
                assigned[it.key] = event.id
            self.table.refresh(event)
            touched[event.id] = event
        for it in self.items:
            if it.key in self.why:  # a copy: it follows its original
                continue
            event = touched[assigned[it.key]]
            reason: dict[str, Any]
            if it.key in opened:
                best = self._best_other(it, event.id)
                reason = {"rule": "opened", "best": None if best is None else best}
            else:
                rest = event.without(it)
                m = None if rest is None else self.c.match(it, rest, detail=True)
                reason = {"rule": "joined", "match": m.as_dict(self.c.scorer) if m else None}
            if it.key in self.merged_at:
                reason["probability"] = round(self.merged_at[it.key], 4)
                reason["with"] = sum(1 for x in event.members if x.key in rank) - 1
            self.why[it.key] = reason
        return assigned, list(touched.values()), self.why

    def _best_other(self, item: Item, own: str) -> dict[str, Any] | None:
        """For a story that opened an event: the nearest other event it did not join."""
        best = None
        for e in self.table.nearest(item.vector, self.c.CANDIDATES + 1):
            if e.id == own:
                continue
            m = self.c.match(item, e, detail=False)
            if m is None:
                continue
            if best is None or (m.probability, best.event) > (best.probability, m.event):
                best = m
        if best is None:
            return None
        full = self.c.match(item, self.table.get(best.event), detail=True)
        return full.as_dict(self.c.scorer) if full else None


def _rank(pair: tuple[Item, float, Any]) -> tuple[float, str]:
    """Nearest first, ties by id: `nearest_members`' order."""
    return -pair[1], pair[0].key


def _copy(event: Event) -> Event:
    """A copy of the event to add this call's stories to (a view for matching; the event
    itself changes only when the call is done)."""
    out = Event(event.id, event.vector_sum.copy(), event.size, event.first_day, event.last_day)
    out.members = list(event.members)
    return out


def _closed_event(event_id: str, first: Item) -> Event:
    """A stand-in for an event that is no longer open, for the copies that follow a story of
    it: it holds only them."""
    return Event(event_id, np.zeros_like(first.vector), 0, first.day, first.day)


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
