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


def evidence_features(a: Evidence, b: Evidence) -> dict[str, float]:
    """Every feature but the cosine terms: what the texts themselves show."""
    same = a.lang == b.lang
    la, lb = max(a.length, 1), max(b.length, 1)
    shared = a.terms & b.terms
    if a.terms and b.terms:
        unmatched = min(1 - len(shared) / len(a.terms), 1 - len(shared) / len(b.terms))
    else:
        unmatched = 1.0
    if a.sources and b.sources:
        source = 1.0 if a.sources & b.sources else 0.0
    else:
        source = 0.5
    conflict = bool(a.numbers and b.numbers and (a.numbers - b.numbers) and (b.numbers - a.numbers))
    short_pair = max(la, lb) <= SHORT_WORDS
    return {
        "cross_language": 0.0 if same else 1.0,
        "short": 1.0 / math.sqrt(min(la, lb)),
        "numbers_agree": number_agreement(a, b),
        "numbers_conflict": 1.0 if conflict else 0.0,
        "changed_number": 1.0 if same and changed_number(a, b) else 0.0,
        "negation_mismatch": (
            1.0 if same and short_pair and (a.negations > 0) != (b.negations > 0) else 0.0
        ),
        "containment": containment(a.shingles, b.shingles) if same else 0.0,
        "terms_shared": jaccard(a.terms, b.terms),
        "terms_unmatched": unmatched,
        "length_ratio": min(la, lb) / max(la, lb),
        "same_source": source,
    }


def pair_features(a: Item, b: Item) -> dict[str, float]:
    cos = float(a.vector @ b.vector)
    out = evidence_features(a.evidence, b.evidence)
    out["cosine"] = cos
    out["cosine_cross"] = cos * out["cross_language"]
    return out
