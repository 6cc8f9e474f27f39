"""Character tables, `normalize` and line helpers shared by the text modules.

They sit in a module of their own, below `embed.text`, `embed.langid`, `embed.dates` and
`embed.boilerplate`, so that those import them rather than each other (no import cycles).
`normalize` is here because dates and boilerplate build their patterns with it at import time.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# --------------------------------------------------------------------------------------------
# Character tables
# --------------------------------------------------------------------------------------------

ZWNJ = "\u200c"
TATWEEL = "\u0640"

# Persian (U+06F0..) and Arabic-Indic (U+0660..) digits to ASCII.
_DIGITS = {0x06F0 + i: str(i) for i in range(10)} | {0x0660 + i: str(i) for i in range(10)}

# Invisible format characters a scrape drags in: ZWNJ/ZWJ, zero-width space, bidi marks and
# embeddings/isolates, Arabic letter mark, BOM, soft hyphen, word joiner.
_INVISIBLE = (
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2066\u2067\u2068\u2069\u061c\ufeff\u00ad\u2060"
)

# Arabic diacritics: Quranic signs, harakat/tanwin/shadda/sukun/maddah/hamza marks,
# superscript alef, Quranic annotation marks.
_DIACRITICS = (
    "".join(chr(c) for c in range(0x0610, 0x061B))
    + "".join(chr(c) for c in range(0x064B, 0x0660))
    + "\u0670"
    + "".join(chr(c) for c in range(0x06D6, 0x06EE))
)

_LETTERS = {
    "\u064a": "\u06cc",  # ي Arabic yeh -> ی
    "\u0649": "\u06cc",  # ى alef maksura -> ی
    "\u0626": "\u06cc",  # ئ yeh with hamza -> ی
    "\u0643": "\u06a9",  # ك Arabic kaf -> ک
    "\u0623": "\u0627",  # أ -> ا
    "\u0625": "\u0627",  # إ -> ا
    "\u0622": "\u0627",  # آ -> ا
    "\u0671": "\u0627",  # ٱ alef wasla -> ا
    "\u0672": "\u0627",  # ٲ
    "\u0673": "\u0627",  # ٳ
    "\u0624": "\u0648",  # ؤ -> و
    "\u0629": "\u0647",  # ة teh marbuta -> ه
    "\u06c0": "\u0647",  # ۀ heh with yeh above -> ه
    "\u06c1": "\u0647",  # ہ heh goal
    "\u06c2": "\u0647",  # ۂ
    "\u06c3": "\u0647",  # ۃ teh marbuta goal
    "\u06be": "\u0647",  # ھ heh doachashmee (keyboard confusion in fa/ar)
    "\u06d5": "\u0647",  # ە ae
}

_PUNCT = {
    "\u060c": ",",  # ، Arabic comma
    "\u061b": ";",  # ؛ Arabic semicolon
    "\u061f": "?",  # ؟ Arabic question mark
    "\u06d4": ".",  # ۔ Urdu full stop
    "\u066b": ".",  # ٫ Arabic decimal separator
    "\u066c": ",",  # ٬ Arabic thousands separator
    "\u066a": "%",  # ٪ Arabic percent
    # Quote styles differ by outlet (« » in Persian, " in Arabic); the story does not.
    "\u00ab": '"',
    "\u00bb": '"',
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2018": "'",
    "\u2019": "'",
}

_NORM_TABLE: dict[int, str | None] = {ord(c): None for c in _INVISIBLE + _DIACRITICS + TATWEEL}
_NORM_TABLE |= {ord(k): v for k, v in (_LETTERS | _PUNCT).items()}
_NORM_TABLE |= _DIGITS

_WS = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Canonical form for hashing and token overlap (lossy; never show it to people).

    ZWNJ is deleted rather than turned into a space: scraped Persian very often loses it
    ("تماسها" for "تماس‌ها"), so deleting makes the two spellings equal. "می شود" written with a
    real space stays different from "میشود"; that is the price of not splitting every word.
    """
    s = text
    # Deleting a mark can let neighbours compose, and casefold can undo NFKC; repeat to a fixed
    # point so that normalize(normalize(x)) == normalize(x). One round is the usual case.
    for _ in range(4):
        before = s
        s = unicodedata.normalize("NFKC", s).casefold()
        s = unicodedata.normalize("NFKC", s).translate(_NORM_TABLE)
        if s == before:
            break
    return _WS.sub(" ", s).strip()


# --------------------------------------------------------------------------------------------
# Line helpers (dates and boilerplate)
# --------------------------------------------------------------------------------------------

LINE_CACHE = 16384  # distinct short lines whose normal form is kept
SHORT_LINE = 200  # characters: a stamp, a credit, a menu; paragraphs are not repeated


def normalize_line(line: str) -> str:
    """`normalize` of one line, remembered for short ones: the cleaner asks for each line's
    normal form up to four times (noise, date stamp and footer checks, and again when the
    title is split off), and outlets repeat their boilerplate lines in every story."""
    return _normalize_short(line) if len(line) <= SHORT_LINE else normalize(line)


@lru_cache(maxsize=LINE_CACHE)
def _normalize_short(line: str) -> str:
    return normalize(line)


_SENTENCE_END = re.compile(r"[.!?\u061f\u2026]['\"\u00bb\u201d)]*\s*$")


def _words(line: str) -> int:
    return len(line.split())


def _phrase_regex(phrases: Iterable[str], *, whole: bool = False) -> re.Pattern[str]:
    """Regex over normalize()d lines for phrases, tolerant to ZWNJ/space variants."""
    alts = sorted({normalize(p) for p in phrases}, key=len, reverse=True)
    body = "|".join(r"\s?".join(map(re.escape, p.split(" "))) for p in alts)
    if whole:
        return re.compile(rf"^(?:{body})$")
    return re.compile(rf"^(?:{body})(?![^\W\d_])")


def _ticker_index(lines: list[str]) -> int | None:
    """Index of a leading headline ticker, or None.

    A ticker is the first non-empty line, long (40+ words) yet with no sentence ending and few
    commas (a run of unrelated headlines glued together), followed by a short line that reads as
    a title (no final full stop) and then more text.
    """
    filled = [i for i, ln in enumerate(lines) if ln.strip()]
    if len(filled) < 3:
        return None
    first, title = lines[filled[0]].strip(), lines[filled[1]].strip()
    n = _words(first)
    if n < 40 or _SENTENCE_END.search(first) or _SENTENCE_END.search(title):
        return None
    inner_ends = len(re.findall(r"[.!?\u061f](?=\s)", first))
    commas = first.count(",") + first.count("\u060c")
    if inner_ends > n // 40 or commas > n // 25 or _words(title) > 25:
        return None
    return filled[0]
