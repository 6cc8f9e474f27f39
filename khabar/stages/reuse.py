"""Before stage (b): a near-verbatim copy takes its original's vector instead of a model pass.

A republished agency story that differs from one already embedded only in what the cleaner
does not know (a credit line, a footer, a dateline) costs a model pass and gives almost the
same vector. Two checks prove, without the model, that a copy's vector would be its
original's:
- the duplicate check's containment rule (cluster/duplicates.py): one text's word 3-shingles
  held in the other's at `contained` or more, with no veto (a changed number, a negation):
  the two are copies;
- the part the model reads is the same words in the same order: of the first
  `TOKEN_BUDGET` words of each (a word is at least one token, so this covers what the
  encoder reads), `contained` or more match in order (difflib's matching blocks).
On FarExStance dev (697 Persian stories), the containment rule holds for 105 pairs; 40 pass
the read-part check too (28 stories would take a vector). Their own vectors lie at cosine
0.937-1.0 (median 0.995) of their original's, and what differs is boilerplate the cleaner
missed: a site's credit line, an ad, a dateline; the copy takes the vector without it. The
65 refused open differently over one agency text (an outlet's own lead) and are embedded
(cosine 0.825-0.994); `python scripts/eval_reuse.py` measures this.
The copy then takes the vector of its original, which must
- be in the same language,
- come before it in fold order ((day, id), khabar/clustering.py), and
- have been embedded itself (a copy of a copy is embedded: no chains),
so which story is embedded and which reuses depends on the stories, not on how they were
batched into runs (a nightly per day and a backfill of the same days agree).

Candidates come without vectors from two MinHash values of the read part's shingles (the
`sketches` table): read parts that match at 0.95 share most of their shingles, and each value
agrees with probability equal to their Jaccard. A missed copy is embedded, as before.
"""

from __future__ import annotations

import difflib
import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cluster.duplicates import DuplicateDetector, veto
from cluster.evidence import Evidence, containment, words
from embed import text as textlib
from embed.encoder import TOKEN_BUDGET
from khabar.days import story_day


@dataclass
class Sketch:
    """What the reuse check needs of one story; the full text's evidence only when a
    candidate comes (it costs more than the read part's shingles)."""

    key: str  # embed key
    order: tuple[float, str]  # fold order: (day, id)
    lang: str
    norm: str
    lead: list[str]  # the first TOKEN_BUDGET words
    minhash: tuple[int, int]

    @cached_property
    def evidence(self) -> Evidence:
        return Evidence.of(self.norm, self.lang)


def shingle_set(ws: list[str], k: int = 3) -> set[str]:
    return {" ".join(ws[i : i + k]) for i in range(len(ws) - k + 1)}


def minhash(shingles: Iterable[str]) -> tuple[int, int]:
    """The smallest value of two independent 32-bit hashes over the shingles (the halves of
    one blake2b digest; stable across processes, unlike Python's hash)."""
    hs = [
        int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "big")
        for s in shingles
    ]
    if not hs:
        return 0, 0
    return min(hs) >> 32, min(h & 0xFFFFFFFF for h in hs)


def sketch(story: dict[str, Any]) -> Sketch:
    """`story` needs id, lang, title, text, embed_key and published_at or ingested_at."""
    norm = textlib.normalize(f"{story['title']}\n{story['text']}")
    lead = words(norm)[:TOKEN_BUDGET]
    order = (story_day(story), story["id"])
    return Sketch(story["embed_key"], order, story["lang"], norm, lead, minhash(shingle_set(lead)))


class Sketches:
    """Sketches of stored stories, kept for a run: an agency text republished all night is a
    candidate for every copy, and is normalised and read once, not once per copy. Keyed by
    everything a sketch is made of, so a story whose text or date changed is sketched anew;
    the oldest go past `size`."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._kept: OrderedDict[tuple, Sketch] = OrderedDict()

    def of(self, story: dict[str, Any]) -> Sketch:
        fields = ("id", "lang", "title", "text", "embed_key", "published_at", "ingested_at")
        key = tuple(story.get(f) for f in fields)
        found = self._kept.get(key)
        if found is None:
            found = self._kept[key] = sketch(story)
            if len(self._kept) > self.size:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
        return found


@dataclass(frozen=True)
class NearVerbatim:
    """The rule, with the duplicate check's parameters (cluster/calibration.json)."""

    contained: float
    min_shingles: int

    @classmethod
    def of(cls, detector: DuplicateDetector) -> NearVerbatim:
        return cls(detector.contained, detector.contained_min_shingles)

    def eligible(self, s: Sketch) -> bool:
        """Long enough to be proven a copy (and so to be an original)."""
        return len(s.lead) - 2 >= self.min_shingles

    def holds(self, a: Sketch, b: Sketch) -> bool:
        """A copy by the containment rule, no veto, and the read parts the same words."""
        if a.lang != b.lang or not (self.eligible(a) and self.eligible(b)):
            return False
        longer = max(len(a.lead), len(b.lead))
        if min(len(a.lead), len(b.lead)) < self.contained * longer:
            return False
        sa, sb = a.evidence.shingles, b.evidence.shingles
        if min(len(sa), len(sb)) < self.min_shingles or containment(sa, sb) < self.contained:
            return False
        if veto(a.evidence, b.evidence) is not None:
            return False
        match = difflib.SequenceMatcher(None, a.lead, b.lead, autojunk=False)
        same = sum(m.size for m in match.get_matching_blocks())
        return same >= self.contained * longer

    def original(self, copy: Sketch, candidates: Iterable[Sketch]) -> Sketch | None:
        """The candidate whose vector `copy` takes: the first in fold order of those that
        come before it and that the rule holds for; None: `copy` is embedded."""
        found = [c for c in candidates if c.order < copy.order and self.holds(copy, c)]
        return min(found, key=lambda c: c.order, default=None)
