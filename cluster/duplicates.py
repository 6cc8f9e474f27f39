"""Exact, near and translated duplicates.

Each story is compared with earlier candidates (the pipeline finds them with the vector
index); a duplicate points to the canonical story of its group, the earliest published and
then the first ingested. Kinds:

- `exact`: the same text after normalisation and boilerplate removal (equal content hash);
- `near`: same language, copied or lightly edited (republished agency copy, a new headline,
  a trimmed ending): a high language-corrected cosine or a high shingle containment;
- `translation`: another language, same article: the corrected cosine, moved up or down by
  how far the two stories' numbers agree.

A changed fact (each side has a number the other lacks, or one side negates) is never a
`near` duplicate; for translations the number agreement is a soft term instead, since
translators do write some numbers out in words. The thresholds come from
`cluster/calibration.json` (see scripts/calibrate.py) and can be overridden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cluster.evidence import Evidence, containment, fact_conflict, number_agreement


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
    score: float


class DuplicateDetector:
    """Decides whether a story duplicates one of its candidates; parameters only, no state."""

    # No defaults: the values live in cluster/calibration.json (cluster.calibration.build).
    def __init__(
        self,
        *,
        near_cosine: float,
        near_containment: float,
        translation_score: float,
        number_weight: float,
        max_days: float,
    ):
        self.near_cosine = near_cosine
        self.near_containment = near_containment
        self.translation_score = translation_score
        self.number_weight = number_weight
        self.max_days = max_days

    def get_params(self) -> dict[str, float]:
        return dict(self.__dict__)

    def pair(self, a: Item, b: Item) -> tuple[str | None, float]:
        """(kind or None, score) for two stories, regardless of which came first."""
        if a.content_hash == b.content_hash:
            return "exact", 1.0
        if abs(a.day - b.day) > self.max_days:
            return None, 0.0
        cos = float(a.vector @ b.vector)
        if a.lang == b.lang:
            if fact_conflict(a.evidence, b.evidence):
                return None, cos
            shingle = containment(a.evidence.shingles, b.evidence.shingles)
            if cos >= self.near_cosine or shingle >= self.near_containment:
                return "near", max(cos, shingle)
            return None, cos
        score = self.translation_value(cos, a.evidence, b.evidence)
        return ("translation" if score >= self.translation_score else None), score

    def translation_value(self, cos: float, a: Evidence, b: Evidence) -> float:
        return cos + self.number_weight * (number_agreement(a, b) - 0.5)

    def describe(self, member: Item, canonical: Item) -> tuple[str | None, float]:
        """Kind and score of a group member relative to its canonical story; None when the
        two state different facts (the member joined through a chain of copies)."""
        if member.content_hash == canonical.content_hash:
            return "exact", 1.0
        cos = float(member.vector @ canonical.vector)
        if member.lang == canonical.lang:
            if fact_conflict(member.evidence, canonical.evidence):
                return None, cos
            shingle = containment(member.evidence.shingles, canonical.evidence.shingles)
            return "near", max(cos, shingle)
        return "translation", self.translation_value(cos, member.evidence, canonical.evidence)

    def best(self, item: Item, candidates: list[Item]) -> Link | None:
        """The strongest duplicate link from `item` to one of `candidates`, if any."""
        best: Link | None = None
        rank = {"exact": 2, "near": 1, "translation": 1}
        for c in candidates:
            if c.key == item.key:
                continue
            kind, score = self.pair(item, c)
            if kind is None:
                continue
            link = Link(item.key, c.key, kind, score)
            if best is None or (rank[kind], score) > (rank[best.kind], best.score):
                best = link
        return best


def canonical_groups(links: list[Link], order: dict[str, tuple]) -> dict[str, str]:
    """Union the links into groups; map every non-canonical member to its canonical story,
    the group's earliest by `order`."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for link in links:
        ra, rb = find(link.key), find(link.other)
        if ra != rb:
            parent[ra] = rb
    groups: dict[str, list[str]] = {}
    for x in list(parent):
        groups.setdefault(find(x), []).append(x)
    out: dict[str, str] = {}
    for members in groups.values():
        canon = min(members, key=lambda k: order[k])
        out.update({m: canon for m in members if m != canon})
    return out
