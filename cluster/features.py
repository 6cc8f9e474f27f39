"""The features of a pair of stories that the duplicate and event decisions learn from.

Each is a number a reader can check by looking at the two stories; the scorers
(cluster/scorer.py) weigh them, and `khabar explain` shows them. All come from the stories'
language-corrected vectors and their `Evidence` (cluster/evidence.py); none needs the model.

- `cosine`: the language-corrected cosine of the two story vectors;
- `cross_language`: 1 for a pair in two languages, where cosines run lower;
- `cosine_cross`: the cosine again for a cross-language pair (0 otherwise), so that the two
  kinds of pair get their own slope;
- `short`: 1 / sqrt(words of the shorter text): a headline's cosine is noisier than an
  article's;
- `numbers_agree`: Jaccard of the two number sets (0.5 when either has none);
- `numbers_conflict`: each side states a number the other lacks;
- `changed_number`: the same words around a different number ("200 killed" / "300 killed");
- `negation_mismatch`: one of two short same-language texts negates, the other does not;
- `containment`: share of the shorter text's word 3-shingles found in the other (copying);
- `terms_shared`: Jaccard of the content words, Persian and Arabic letters folded together
  so that one name spelled in both scripts meets (پوتین / بوتين);
- `terms_unmatched`: the smaller of the two sides' shares of content words the other lacks:
  near 0 for a trimmed copy (one side holds the other), high when both sides say things the
  other does not (a changed entity, "rise" against "fall", another story);
- `length_ratio`: words of the shorter over the longer;
- `same_source`: both leads credit one news agency (a republished agency copy); 0.5 when
  either credits none.

Publication time is not a learned feature: the development data carries no real dates, so
the time penalty of events stays the fixed prior described in cluster/events.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from cluster.evidence import (
    SHORT_WORDS,
    Evidence,
    changed_number,
    containment,
    jaccard,
    number_agreement,
)

if TYPE_CHECKING:
    from cluster.duplicates import Item

NAMES = (
    "cosine",
    "cross_language",
    "cosine_cross",
    "short",
    "numbers_agree",
    "numbers_conflict",
    "changed_number",
    "negation_mismatch",
    "containment",
    "terms_shared",
    "terms_unmatched",
    "length_ratio",
    "same_source",
)


def _unmatched(a: Evidence, b: Evidence) -> float:
    if not (a.terms and b.terms):
        return 1.0
    shared = len(a.terms & b.terms)
    return min(1 - shared / len(a.terms), 1 - shared / len(b.terms))


def _source(a: Evidence, b: Evidence) -> float:
    if a.sources and b.sources:
        return 1.0 if a.sources & b.sources else 0.0
    return 0.5


def _conflict(a: Evidence, b: Evidence) -> float:
    both = a.numbers and b.numbers and (a.numbers - b.numbers) and (b.numbers - a.numbers)
    return 1.0 if both else 0.0


def _negation(a: Evidence, b: Evidence) -> float:
    short_pair = max(max(a.length, 1), max(b.length, 1)) <= SHORT_WORDS
    differ = (a.negations > 0) != (b.negations > 0)
    return 1.0 if a.lang == b.lang and short_pair and differ else 0.0


def _length_ratio(a: Evidence, b: Evidence) -> float:
    la, lb = max(a.length, 1), max(b.length, 1)
    return min(la, lb) / max(la, lb)


# One function per feature, in the order a stored decision lists them. A decision computes
# only the features its scorer weighs (`pair_features(a, b, names)`); the set intersections
# behind the others are most of a night's fold, and only a stored decision shows them all.
EVIDENCE: dict[str, Callable[[Evidence, Evidence], float]] = {
    "cross_language": lambda a, b: 0.0 if a.lang == b.lang else 1.0,
    "short": lambda a, b: 1.0 / math.sqrt(min(max(a.length, 1), max(b.length, 1))),
    "numbers_agree": number_agreement,
    "numbers_conflict": _conflict,
    "changed_number": lambda a, b: 1.0 if a.lang == b.lang and changed_number(a, b) else 0.0,
    "negation_mismatch": _negation,
    "containment": lambda a, b: containment(a.shingles, b.shingles) if a.lang == b.lang else 0.0,
    "terms_shared": lambda a, b: jaccard(a.terms, b.terms),
    "terms_unmatched": _unmatched,
    "length_ratio": _length_ratio,
    "same_source": _source,
}


def evidence_features(
    a: Evidence, b: Evidence, names: Iterable[str] | None = None
) -> dict[str, float]:
    """Every feature but the cosine terms (or those of `names`): what the texts show."""
    return {name: fn(a, b) for name, fn in _plan(None if names is None else tuple(names))[0]}


def pair_features(
    a: Item, b: Item, names: tuple[str, ...] | None = None, cosine: float | None = None
) -> dict[str, float]:
    """The features of a pair: all of them, or those of `names` (what a scorer weighs).
    `cosine`: the pair's `a.vector @ b.vector`, when the caller has it already."""
    order = _stored_order(names)
    return dict(zip(order, pair_values(a, b, order, cosine), strict=True))


def pair_values(
    a: Item, b: Item, names: tuple[str, ...], cosine: float | None = None
) -> list[float]:
    """The values of `names` for a pair, in that order: what a scorer sums, without the
    dict `pair_features` makes of them (a night's fold scores over a million pairs).
    `cosine`: the pair's `a.vector @ b.vector`, when the caller has it already."""
    ea, eb = a.evidence, b.evidence
    cos = cosine
    out: list[float] = []
    for name, fn in _columns(names):
        if fn is not None:
            out.append(fn(ea, eb))
            continue
        if cos is None:
            cos = float(a.vector @ b.vector)
        out.append(cos if name == "cosine" else cos * (0.0 if a.lang == b.lang else 1.0))
    return out


@lru_cache(maxsize=64)
def _columns(
    names: tuple[str, ...],
) -> tuple[tuple[str, Callable[[Evidence, Evidence], float] | None], ...]:
    """Each of `names` with its evidence function, or None for the two cosine terms."""
    return tuple((n, None if n in ("cosine", "cosine_cross") else EVIDENCE[n]) for n in names)


@lru_cache(maxsize=64)
def _stored_order(names: tuple[str, ...] | None) -> tuple[str, ...]:
    """The features `names` asks for (all when None), as a stored decision lists them: the
    evidence in `EVIDENCE` order, then both cosine terms when either is asked for."""
    evidence, needs_cosine = _plan(names)
    return tuple(n for n, _ in evidence) + (("cosine", "cosine_cross") if needs_cosine else ())


@lru_cache(maxsize=64)
def _plan(
    names: tuple[str, ...] | None,
) -> tuple[tuple[tuple[str, Callable[[Evidence, Evidence], float]], ...], bool]:
    """The evidence functions `names` needs, in stored order, and whether it needs the cosine."""
    wanted = set(NAMES if names is None else names)
    evidence = tuple((n, fn) for n, fn in EVIDENCE.items() if n in wanted)
    return evidence, bool(wanted & {"cosine", "cosine_cross"})
