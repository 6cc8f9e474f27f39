"""Text cleaning for Persian, Arabic and other news: the public API of the text modules.

Two cleanings exist on purpose. `normalize` is aggressive and lossy: it exists so that two copies
of a story that differ only in keyboard habits (Arabic or Persian yeh and kaf, diacritics, ZWNJ,
digit scripts) hash and tokenise the same. `clean_for_model` is light: the embedding model's
tokenizer was trained on real text with its letters and ZWNJ, so we only remove scraping noise.

`clean_for_model` lives here; `normalize` and the character tables in `embed.chars`; language,
dates and boilerplate in `embed.langid`, `embed.dates` and `embed.boilerplate`. All are
re-exported here, so callers import from `embed.text` only.

Everything here is pure Python (stdlib, `jdatetime`, `hijridate`) and deterministic.
"""

from __future__ import annotations

import re
import statistics
import unicodedata

from embed.boilerplate import split_title, strip_boilerplate
from embed.chars import _DIGITS, _INVISIBLE, TATWEEL, ZWNJ, normalize
from embed.dates import extract_date
from embed.langid import detect_language

__all__ = [
    "normalize",
    "clean_for_model",
    "detect_language",
    "strip_boilerplate",
    "extract_date",
    "split_title",
]

# --------------------------------------------------------------------------------------------
# Light cleaning for the model
# --------------------------------------------------------------------------------------------

# A line ends a sentence (or introduces a list or a quote); a closing quote alone counts too.
_TERMINAL_END = re.compile(
    r"[.!?\u061f\u2026\u06d4:;\u061b][\"'\u00bb\u201d\u2019)\]]*$|[\u00bb\u201d]$"
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_SPACES = re.compile(r"[^\S\n]+")


class _ControlTable(dict):
    """str.translate's table for `_drop_controls`, filled one code point at a time as texts
    bring them: the per-character rule runs once per distinct character, not per character."""

    def __missing__(self, code: int) -> str | None:
        ch = chr(code)
        if ch in ("\n", "\t", ZWNJ):
            out: str | None = ch
        elif ch == TATWEEL or ch in _INVISIBLE:
            out = None
        else:
            cat = unicodedata.category(ch)
            if cat in ("Cc", "Cf", "Cs", "Co"):
                out = None
            else:
                out = " " if cat in ("Zs", "Zl", "Zp") else ch
        self[code] = out
        return out


_CONTROLS = _ControlTable()


def _drop_controls(text: str) -> str:
    """Remove tatweel, bidi marks and control characters but keep ZWNJ, newlines and tabs."""
    return text.translate(_CONTROLS)


def _ends_sentence(line: str) -> bool:
    return bool(_TERMINAL_END.search(line))


def _join(a: str, b: str) -> str:
    """Join a wrapped line to its continuation (no space between CJK characters)."""
    if a and b and _CJK.match(a[-1]) and _CJK.match(b[0]):
        return a + b
    return f"{a} {b}"


def _wrap_width(lines: list[str]) -> float | None:
    """Estimated hard-wrap width, or None when the text is not hard-wrapped.

    A hard-wrapped text has several lines that end mid-sentence, all of about the same length,
    and no line much longer than that: then a blank line after a full-width line that ends
    mid-sentence is a wrap too (scrapes double line breaks), not a paragraph break.
    """
    nonblank = [ln for ln in lines if ln]
    open_lens = [len(ln) for ln in nonblank[:-1] if not _ends_sentence(ln)]
    if len(open_lens) < 3:
        return None
    width = statistics.median(open_lens)
    longest = sorted(len(ln) for ln in nonblank)[int(0.9 * (len(nonblank) - 1))]
    if width < 30 or longest > 1.25 * width:
        return None
    return width


def clean_for_model(text: str) -> str:
    """Light cleaning of text fed to the embedding model; paragraphs separated by "\\n".

    Keeps letters, ZWNJ and punctuation as written (the tokenizer knows them); removes tatweel,
    bidi and control characters; makes digits ASCII; joins lines broken in mid-sentence.
    """
    s = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    s = _drop_controls(s).translate(_DIGITS)
    lines = [_SPACES.sub(" ", ln).strip() for ln in s.split("\n")]
    width = _wrap_width(lines)

    paragraphs: list[str] = []
    current = ""
    last_line = ""
    blank_before = False
    for line in lines:
        if not line:
            blank_before = True
            continue
        if not current:
            current = line
        elif _ends_sentence(last_line):
            paragraphs.append(current)
            current = line
        elif not blank_before or (width is not None and len(last_line) >= 0.6 * width):
            current = _join(current, line)
        else:
            paragraphs.append(current)
            current = line
        last_line = line
        blank_before = False
    if current:
        paragraphs.append(current)
    return "\n".join(paragraphs)
