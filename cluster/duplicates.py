"""Exact, near and translated duplicates, decided by learned probabilities.

Each story is compared with earlier candidates (the pipeline finds them with the vector
index); a duplicate points to the canonical story of its group, the earliest published and
then the first ingested. Kinds:

- `exact`: the same text after normalisation and boilerplate removal (equal content hash);
- `near`: same language, copied or lightly edited (a republished agency copy, a new
  headline, a trimmed ending): the `near` scorer's probability that the two are copies of
  one article reaches its threshold;
- `translation`: another language, same article: the `translation` scorer's probability.

Both scorers are logistic models over the pair features of cluster/features.py, fitted by
scripts/calibrate.py and stored in cluster/calibration.json. Beside the near scorer, one
text held whole in the other (word 3-shingle containment of at least `contained`, over at
least `contained_min_shingles` shingles: a trimmed or retitled republication) is a near
copy by rule: a labelled set of paraphrases cannot teach that, and a learned weight on
containment picked up the sets' quirks instead (scripts/calibrate.py reports it).

A rule stands above each scorer. A changed fact (each side has a number the other lacks, a
number changed between the same words, or one of two headlines negates) is never a near
copy, whatever the probability, because a republisher does not change facts and a reader
must be able to rely on that. Across languages: two texts that both state several numbers
and share few of them are two articles, however close their vectors (`translation_veto`);
below that the numbers are left to the scorer, since translators write some numbers out in
words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cluster.evidence import Evidence, changed_number, containment, fact_conflict
from cluster.features import pair_features, pair_values
from cluster.scorer import LogisticScorer, sigmoid


@dataclass
class Item:
    """One story as the clustering sees it (no database rows, no I/O)."""

    key: str
    order: tuple  # (published date, first-ingested rank): earlier sorts first
    day: float  # publication time in days
    lang: str
    vector: np.ndarray  # language-corrected, unit length
    evidence: Evidence
    content_hash: str


@dataclass(frozen=True)
class Link:
    key: str  # the story that duplicates
    other: str  # the story it duplicates
    kind: str  # exact | near | translation
    score: float  # the probability that the two are copies of one article


@dataclass
class Decision:
    """Two stories judged as copies or not, with what the judgement rests on."""

    kind: str | None  # exact | near | translation | None
    probability: float
    scorer: str | None = None  # near | translation; None for exact or out of reach
    features: dict[str, float] = field(default_factory=dict)
    veto: str | None = None  # the rule that refused a near copy
    rule: str | None = None  # "contained": a near copy by the containment rule

    def as_dict(self, scorers: dict[str, LogisticScorer] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "probability": round(self.probability, 4),
            "scorer": self.scorer,
        }
        if self.veto:
            out["veto"] = self.veto
        if self.rule:
            out["rule"] = self.rule
        if self.features:
            out["features"] = {k: round(v, 4) for k, v in self.features.items()}
            if scorers and self.scorer in scorers:
                out["contributions"] = scorers[self.scorer].explain(self.features)
        return out


TRANSLATION_NUMBERS = 3  # numbers each side must state before their overlap is evidence
TRANSLATION_SHARED = 1 / 3  # a translation keeps its numbers: share at least this of them


def translation_veto(a: Evidence, b: Evidence) -> str | None:
    """Why two texts in two languages cannot be one article translated: both state several
    numbers and share few of them. Translators keep numbers (the versions of one NTREX
    article share 84% of theirs); two articles on one event, each with its own figures, do
    not. On NTREX dev this refuses 2 of 168 translations and 32% of the other pairs."""
    if len(a.numbers) < TRANSLATION_NUMBERS or len(b.numbers) < TRANSLATION_NUMBERS:
        return None
    shared = len(a.numbers & b.numbers) / len(a.numbers | b.numbers)
    if shared >= TRANSLATION_SHARED:
        return None
    return f"both state numbers and share {shared:.0%} of them; a translation keeps its numbers"


def veto(a: Evidence, b: Evidence) -> str | None:
    """Why two same-language texts cannot be near copies of each other, if they cannot."""
    if not fact_conflict(a, b):
        return None
    if a.numbers and b.numbers and (a.numbers - b.numbers) and (b.numbers - a.numbers):
        return "each states a number the other lacks"
    if changed_number(a, b):
        return "a number changed between the same words"
    return "one of two headlines negates what the other states"


class DuplicateDetector:
    """Decides whether a story duplicates one of its candidates; parameters only, no state."""

    def __init__(
        self,
        *,
        near: LogisticScorer,
        translation: LogisticScorer,
        max_days: float,
        contained: float,
        contained_min_shingles: int,
    ):
        self.near = near
        self.translation = translation
        self.max_days = max_days
        self.contained = contained
        self.contained_min_shingles = contained_min_shingles

    @property
    def scorers(self) -> dict[str, LogisticScorer]:
        return {"near": self.near, "translation": self.translation}

    def get_params(self) -> dict[str, Any]:
        return {
            "near": self.near.to_dict(),
            "translation": self.translation.to_dict(),
            "max_days": self.max_days,
            "contained": self.contained,
            "contained_min_shingles": self.contained_min_shingles,
        }

    def holds(self, a: Item, b: Item) -> bool:
        """One text held whole in the other (same language)."""
        small = min(len(a.evidence.shingles), len(b.evidence.shingles))
        if small < self.contained_min_shingles:
            return False
        return containment(a.evidence.shingles, b.evidence.shingles) >= self.contained

    def judge(self, a: Item, b: Item) -> Decision:
        """The decision for two stories, whatever their distance in time (`describe`)."""
        if a.content_hash == b.content_hash:
            return Decision("exact", 1.0)
        feats = pair_features(a, b)
        if a.lang == b.lang:
            p = self.near.probability(feats)
            why = veto(a.evidence, b.evidence)
            held = self.holds(a, b)
            kind = "near" if why is None and (held or p >= self.near.threshold) else None
            d = Decision(kind, p, "near", feats, why)
            d.rule = "contained" if held and why is None else None
            return d
        p = self.translation.probability(feats)
        why = translation_veto(a.evidence, b.evidence)
        kind = "translation" if why is None and p >= self.translation.threshold else None
        return Decision(kind, p, "translation", feats, why)

    def pair(self, a: Item, b: Item) -> Decision:
        """As `judge`, but stories more than `max_days` apart are never copies (an exact copy
        is one at any distance)."""
        if a.content_hash != b.content_hash and abs(a.day - b.day) > self.max_days:
            return Decision(None, 0.0)
        return self.judge(a, b)

    def kind(self, a: Item, b: Item) -> tuple[str | None, float]:
        """`pair`'s kind and probability alone. It reads only the features its scorer weighs
        and looks for a veto only where the pair would be a copy without one: the decision
        `pair` makes, at a fraction of the set intersections (`best` runs this ~30 times a
        story)."""
        if a.content_hash == b.content_hash:
            return "exact", 1.0
        if abs(a.day - b.day) > self.max_days:
            return None, 0.0
        if a.lang == b.lang:
            p = sigmoid(self.near.logit_of(pair_values(a, b, self.near.features)))
            if not (p >= self.near.threshold or self.holds(a, b)):
                return None, p
            return (None if veto(a.evidence, b.evidence) else "near"), p
        p = sigmoid(self.translation.logit_of(pair_values(a, b, self.translation.features)))
        if p < self.translation.threshold or translation_veto(a.evidence, b.evidence):
            return None, p
        return "translation", p

    def describe(self, member: Item, canonical: Item) -> Decision:
        """A group member against its canonical story (it may have joined through a chain
        of copies): the kind its own evidence supports; None when the two state different
        facts. The kind follows the languages: a member is a translation of a canonical in
        another language even where its own probability is lower."""
        d = self.judge(member, canonical)
        if d.kind is None and (d.veto is None or member.lang != canonical.lang):
            d.kind = "near" if member.lang == canonical.lang else "translation"
        return d

    def best(self, item: Item, candidates: list[Item]) -> tuple[Link, Decision] | None:
        """The strongest duplicate link from `item` to one of `candidates`, if any, with the
        full decision for it."""
        best: Link | None = None
        rank = {"exact": 2, "near": 1, "translation": 1}
        for c in candidates:
            if c.key == item.key:
                continue
            kind, p = self.kind(item, c)
            if kind is None:
                continue
            if best is not None:
                mine, theirs = (rank[kind], p), (rank[best.kind], best.score)
                # Ties go to the smaller id, never to the order candidates came in.
                if mine < theirs or (mine == theirs and c.key > best.other):
                    continue
            best = Link(item.key, c.key, kind, p)
        if best is None:
            return None
        return best, self.pair(item, next(c for c in candidates if c.key == best.other))


def components(edges: list[tuple[str, str]]) -> dict[str, str]:
    """Union-find over the edges: node -> the smallest node of its component."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in list(parent)}


def canonical_groups(links: list[Link], order: dict[str, tuple]) -> dict[str, str]:
    """Union the links into groups; map every non-canonical member to its canonical story,
    the group's earliest by `order`."""
    groups: dict[str, list[str]] = {}
    for x, root in components([(link.key, link.other) for link in links]).items():
        groups.setdefault(root, []).append(x)
    out: dict[str, str] = {}
    for members in groups.values():
        canon = min(members, key=lambda k: (order[k], k))
        out.update({m: canon for m in members if m != canon})
    return out
