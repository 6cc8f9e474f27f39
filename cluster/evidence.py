"""Specific evidence that survives translation: numbers, negation, shared wording.

Two stories on one topic differ in their particulars. Numbers are written alike in every
language once digits are normalised (on NTREX dev, the translations of one story share 84% of
their numbers, different stories 2%), so they separate events and expose a changed fact
(a new casualty count is not a duplicate). Negation is checked for the same reason. Word
shingles measure copying within one language (MinHash estimates their Jaccard at scale).

Functions take text already passed through `embed.text.normalize` (digits ASCII, letters
unified), so this module does no I/O and no normalisation of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SHORT_WORDS = 40  # up to this many words a text is a headline or lead, not a story
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"\w+")

# `embed.text.normalize` writes Arabic yeh and kaf as Persian ی and ک: word lists written
# in Arabic spelling must be folded the same way, or "ليس" never meets a normalised "لیس".
_AS_NORMALISED = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "أ": "ا", "إ": "ا"})


def _normalised(words: set[str]) -> set[str]:
    return {w.translate(_AS_NORMALISED) for w in words}


# Negation markers per language, as whole words (written as usual, folded as normalised).
_NEGATION_WORDS = {
    "en": {"not", "no", "never", "without", "denies", "denied", "deny", "neither", "nor"},
    "ar": {
        "لا",
        "لم",
        "لن",
        "ليس",
        "ليست",
        "ليسوا",
        "غير",
        "بدون",
        "دون",
        "عدم",
        "نفي",
        "ينفي",
        "نفت",
    },
    "fa": {"نه", "نیست", "نیستند", "نبود", "نبودند", "نخواهد", "عدم", "بدون", "هرگز", "تکذیب"},
}
NEGATIONS = {lang: _normalised(ws) for lang, ws in _NEGATION_WORDS.items()}
# Scale words after a number belong to it: "165 مليار" and "165 مليون" are different numbers,
# and "165 billion" in English states the number "165 مليار" states in Arabic.
SCALES = {
    w.translate(_AS_NORMALISED): tag
    for tag, ws in {
        "k": ("thousand", "ألف", "آلاف", "هزار"),
        "m": ("million", "millions", "مليون", "ملايين", "میلیون"),
        "b": ("billion", "billions", "مليار", "مليارات", "میلیارد"),
        "t": ("trillion", "تريليون", "تریلیون"),
    }.items()
    for w in ws
}
# Persian present-tense negation, written with ZWNJ that normalize removes: "نمی‌شود" -> "نمیشود".
_PERSIAN_NEG_PREFIX = "نمی"


def numbers(norm: str) -> frozenset[str]:
    """Numbers as written, separators removed, leading zeros dropped: '1,200' -> '1200';
    with the scale word that follows: '165 billion' -> '165b'."""
    out = set()
    for m in _NUMBER.finditer(norm):
        digits = re.sub(r"[.,]", "", m.group())
        value = digits.lstrip("0") or "0"
        after = _WORD.match(norm, m.end() + 1) if norm[m.end() : m.end() + 1] == " " else None
        scale = SCALES.get(after.group()) if after else None
        out.add(value + scale if scale else value)
    return frozenset(out)


def words(norm: str) -> list[str]:
    return _WORD.findall(norm)


def shingles(norm: str, k: int = 3) -> set[str]:
    return _shingles(words(norm), k)


def _shingles(w: list[str], k: int = 3) -> set[str]:
    if len(w) < k:
        return {" ".join(w)} if w else set()
    return {" ".join(w[i : i + k]) for i in range(len(w) - k + 1)}


def negation_count(norm: str, lang: str) -> int:
    return _negation_count(words(norm), lang)


def _negation_count(ws: list[str], lang: str) -> int:
    markers = NEGATIONS.get(lang, set())
    n = 0
    for w in ws:
        if w in markers or (lang == "fa" and w.startswith(_PERSIAN_NEG_PREFIX)):
            n += 1
    return n


def jaccard(a: set | frozenset, b: set | frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def containment(a: set | frozenset, b: set | frozenset) -> float:
    """Share of the smaller set found in the larger: a trimmed copy is contained."""
    small = min(len(a), len(b))
    return len(a & b) / small if small else 0.0


def number_slots(norm: str) -> frozenset[tuple[str, str, str]]:
    """(word before, number, word after) for each number: where a copy can change a fact."""
    return _number_slots(words(norm))


def _number_slots(w: list[str]) -> frozenset[tuple[str, str, str]]:
    out = set()
    for i, token in enumerate(w):
        if token.isdigit():
            before = w[i - 1] if i > 0 else ""
            after = w[i + 1] if i + 1 < len(w) else ""
            out.add((before, token.lstrip("0") or "0", after))
    return frozenset(out)


# Persian and Arabic spell one name with different letters: پوتین / بوتين, گ / ك, چ / ج.
# `embed.text.normalize` has already unified yeh, kaf, alef and heh forms; these fold the
# letters Arabic lacks onto the ones Arabic writes for them, for name matching only.
_CROSS_SCRIPT = str.maketrans({"پ": "ب", "چ": "ج", "ژ": "ز", "گ": "ک"})
TERM_MIN = 4  # letters: shorter words are mostly function words in fa, ar and en alike


def fold(word: str) -> str:
    return word.translate(_CROSS_SCRIPT)


# News agencies a lead credits ("به گزارش ایرنا", "نقلا عن رويترز", "(Reuters) -"), as
# written after `normalize` and `fold`. A republished copy keeps its source's credit; two
# reports crediting different agencies are two reports. Looked for in a story's lead only.
# Names that are also common words (مهر "Mehr"/a month, فارس "Fars"/Persian, میزان, دانشجو)
# count only right after a marker ("خبرگزاری مهر", "به گزارش فارس").
AGENCIES = frozenset(
    fold(w)
    for w in (
        "ایرنا ایسنا ایلنا ایمنا تسنیم خبرانلاین تابناک شبستان رکنا اقتصادانلاین عصرایران "
        "فرارو همشهری واس وام سانا کونا بترا الاناضول سبوتنیک اسبوتنیک اسپوتنیک الجزیره "
        "العربیه رویترز reuters afp xinhua tass interfax anadolu irna isna dpa ansa efe"
    ).split()
)
AMBIGUOUS_AGENCIES = frozenset(
    fold(w) for w in "مهر فارس میزان دانشجو برنا قنا انتخاب ap ria bbc cnn".split()
)
_MARKERS = frozenset(fold(w) for w in "گزارش خبرگزاری خبرنگار نقلا وکاله agency".split())
_ALIASES = {
    fold(a): b
    for a, b in (
        ("اسبوتنیک", "سبوتنیک"),
        ("اسپوتنیک", "سبوتنیک"),
        ("رویترز", "reuters"),
        ("irna", "ایرنا"),
        ("isna", "ایسنا"),
    )
}
LEAD_WORDS = 60


def terms(norm: str) -> frozenset[str]:
    """Content words, cross-script folded, digits left to `numbers`."""
    return _terms(words(norm))


def _terms(ws: list[str]) -> frozenset[str]:
    return frozenset(fold(w) for w in ws if len(w) >= TERM_MIN and not w.isdigit())


def attributions(norm: str) -> frozenset[str]:
    """The news agencies a story's lead names (its first LEAD_WORDS words)."""
    return _attributions(words(norm))


def _attributions(ws: list[str]) -> frozenset[str]:
    found = set()
    previous = ""
    for w in ws[:LEAD_WORDS]:
        w = fold(w)
        if w in AGENCIES or (w in AMBIGUOUS_AGENCIES and previous in _MARKERS):
            found.add(_ALIASES.get(w, w))
        previous = w
    return frozenset(found)


@dataclass(frozen=True)
class Evidence:
    """What one story offers for comparison; computed once per story."""

    lang: str
    numbers: frozenset[str]
    negations: int
    shingles: frozenset[str]
    slots: frozenset[tuple[str, str, str]] = frozenset()
    length: int = 0  # words
    terms: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()  # credited sources (agencies)

    @classmethod
    def of(cls, norm: str, lang: str) -> Evidence:
        ws = words(norm)  # split once: every field below reads the same words
        return cls(
            lang,
            numbers(norm),
            _negation_count(ws, lang),
            frozenset(_shingles(ws)),
            _number_slots(ws),
            len(ws),
            _terms(ws),
            _attributions(ws),
        )


def changed_number(a: Evidence, b: Evidence) -> bool:
    """The same words around a number, with another number between them: '200 people
    killed' against '300 people killed'. A trimmed copy keeps its numbers where they were."""
    contexts_a: dict[tuple[str, str], set[str]] = {}
    for before, n, after in a.slots:
        contexts_a.setdefault((before, after), set()).add(n)
    for before, n, after in b.slots:
        seen = contexts_a.get((before, after))
        if seen is not None and n not in seen:
            return True
    return False


def number_agreement(a: Evidence, b: Evidence) -> float:
    """Jaccard of the two number sets; 0.5 (no evidence either way) when either has none."""
    if not a.numbers or not b.numbers:
        return 0.5
    return jaccard(a.numbers, b.numbers)


def fact_conflict(a: Evidence, b: Evidence) -> bool:
    """A changed fact: each side states a number the other lacks, a number changed in the
    same place, or only one side negates. A trimmed copy loses numbers but adds none."""
    if a.numbers and b.numbers and (a.numbers - b.numbers) and (b.numbers - a.numbers):
        return True
    if a.lang != b.lang:
        return False
    if changed_number(a, b):
        return True
    # Negation is compared only between short texts (headlines, leads): in a long story a
    # trimmed ending can drop the only negated sentence without changing any fact.
    short = max(a.length, b.length) <= SHORT_WORDS
    return short and (a.negations > 0) != (b.negations > 0)
