"""Text cleaning for Persian, Arabic and other news: normalisation, language, boilerplate, dates.

Two cleanings exist on purpose. `normalize` is aggressive and lossy: it exists so that two copies
of a story that differ only in keyboard habits (Arabic or Persian yeh and kaf, diacritics, ZWNJ,
digit scripts) hash and tokenise the same. `clean_for_model` is light: the embedding model's
tokenizer was trained on real text with its letters and ZWNJ, so we only remove scraping noise.

Everything here is pure Python (stdlib, `jdatetime`, `hijridate`) and deterministic.
"""

from __future__ import annotations

import datetime
import re
import statistics
import unicodedata
from collections.abc import Iterable

import hijridate
import jdatetime

__all__ = [
    "normalize",
    "clean_for_model",
    "detect_language",
    "strip_boilerplate",
    "extract_date",
    "split_title",
]

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
# Light cleaning for the model
# --------------------------------------------------------------------------------------------

# A line ends a sentence (or introduces a list or a quote); a closing quote alone counts too.
_TERMINAL_END = re.compile(
    r"[.!?\u061f\u2026\u06d4:;\u061b][\"'\u00bb\u201d\u2019)\]]*$|[\u00bb\u201d]$"
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_SPACES = re.compile(r"[^\S\n]+")


def _drop_controls(text: str) -> str:
    """Remove tatweel, bidi marks and control characters but keep ZWNJ, newlines and tabs."""
    out = []
    for ch in text:
        if ch in ("\n", "\t", ZWNJ):
            out.append(ch)
        elif ch == TATWEEL or ch in _INVISIBLE:
            continue
        else:
            cat = unicodedata.category(ch)
            if cat in ("Cc", "Cf", "Cs", "Co"):
                continue
            out.append(" " if cat in ("Zs", "Zl", "Zp") else ch)
    return "".join(out)


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


# --------------------------------------------------------------------------------------------
# Language identification
# --------------------------------------------------------------------------------------------

# Scripts that name one language well enough (cheap and reliable); ranges are inclusive.
_SCRIPT_RANGES: list[tuple[int, int, str]] = [
    (0x0600, 0x06FF, "arab"),
    (0x0750, 0x077F, "arab"),
    (0x08A0, 0x08FF, "arab"),
    (0xFB50, 0xFDFF, "arab"),
    (0xFE70, 0xFEFF, "arab"),
    (0x0041, 0x005A, "latn"),
    (0x0061, 0x007A, "latn"),
    (0x00C0, 0x024F, "latn"),
    (0x1E00, 0x1EFF, "latn"),
    (0x0370, 0x03FF, "el"),
    (0x1F00, 0x1FFF, "el"),
    (0x0400, 0x052F, "cyrl"),
    (0x0590, 0x05FF, "he"),
    (0x0530, 0x058F, "hy"),
    (0x10A0, 0x10FF, "ka"),
    (0x0E00, 0x0E7F, "th"),
    (0x0900, 0x097F, "hi"),
    (0x0980, 0x09FF, "bn"),
    (0x0B80, 0x0BFF, "ta"),
    (0xAC00, 0xD7AF, "ko"),
    (0x1100, 0x11FF, "ko"),
    (0x3040, 0x30FF, "kana"),
    (0x3400, 0x4DBF, "han"),
    (0x4E00, 0x9FFF, "han"),
]

_URLISH = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\S+|@\w+")
# Arabic-script letters only (no punctuation or digits); presentation forms are NFKC'd first.
_AR_WORD = re.compile(
    r"[\u0621-\u063a\u0641-\u064a\u066e-\u06d3\u06d5\u06ee\u06ef\u06fa-\u06fc\u06ff"
    r"\u0750-\u077f\u08a0-\u08ff]+"
)
_LATIN_WORD = re.compile(r"[^\W\d_]+")

_FA_LETTERS = set("\u067e\u0686\u0698\u06af")  # پ چ ژ گ: not in Arabic
_FA_FORMS = set("\u06cc\u06a9")  # ی ک: Persian codepoints (Arabic uses ي ك)
_UR_LETTERS = set("\u0679\u0688\u0691\u06ba\u06d2\u06d3\u06c1\u06be")  # ٹ ڈ ڑ ں ے ۓ ہ ھ
_PS_LETTERS = set("\u067c\u0689\u0693\u0696\u069a\u06ab\u06bc\u06cd\u06d0")  # ټ ډ ړ ږ ښ ګ ڼ ۍ ې
_KU_LETTERS = set("\u0695\u06b5\u06ce\u06c6")  # ڕ ڵ ێ ۆ (Sorani)

# Frequent Persian function words, compared after mapping Arabic yeh/kaf to the Persian forms
# (Persian scrapes are often typed with an Arabic keyboard layout). "به" is left out: it is
# also a frequent Arabic word ("به" = with it).
_FA_WORDS = frozenset(
    "است این را می که در از با برای شد شده کرد کرده های ها آن یک تا بود نیز خود دارد کند "
    "گفت اند اما پس باید بر هر شود وی دو روز میان آنها ایران نمی هستند بوده کنند کنیم داد "
    "شدند نیست چه همچنین خواهد شما تو مرا نه هنوز هستم باشد داشت بودند اگر ولی چون "
    "یافت درصد کشور هزار میلیون رو اون یه بهش بهت هست خیلی چی".split()
)
# Frequent Arabic function words, compared on the raw token with ی/ک mapped to ي/ك. Alef
# maksura stays distinct, so Persian "علی" (Ali) never counts as Arabic "على".
_AR_WORDS = frozenset(
    "في فى على إلى الى عن أن إن التي الذي الذين هذا هذه ذلك تلك كان كانت قد لم لن لا "
    "مع بعد قبل حيث كما أو هو هي وقال قال وفي ومن وأن أنه إنه عليه فيه منذ خلال حول ضد عند "
    "حتى ثم غير أي اليوم يوم وذلك لكن إلا بن بأن وكان إنها أنها له لها عام".split()
)
# Also Persian words ("من" = I, "ان" = a careless "آن"), so they count for half.
_AR_WEAK_WORDS = frozenset({"من", "ان"})
_AR_PREFIXES = ("ال", "وال", "بال", "فال", "كال", "لل")

_LATIN_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the of and to in is was for on that with as by at from it he she his her they this "
        "be are were has have had not but an which said will would who their been its more "
        "than after about".split()
    ),
    "fr": frozenset(
        "le la les des du de et est une un dans pour que qui sur au aux pas par avec ce cette "
        "sont ont été il elle selon".split()
    ),
    "de": frozenset(
        "der die das und ist nicht mit den dem ein eine auch sich auf für von zu im wird sind "
        "bei nach wie oder aus".split()
    ),
    "es": frozenset(
        "el la los las de del y que en un una por para con es se no su al lo como más fue "
        "sobre según".split()
    ),
    "it": frozenset(
        "il lo la gli le di del della che e è un una per con non sono nel alla dei anche "
        "come più".split()
    ),
    "pt": frozenset(
        "o a os as de do da dos das e que em um uma para com não no na por se ao foi mais "
        "também segundo".split()
    ),
    "nl": frozenset(
        "de het een en van in is dat op te zijn met voor niet aan er ook als bij door".split()
    ),
    "tr": frozenset(
        "ve bir bu da de ile için olarak olan daha çok gibi ama en ancak sonra".split()
    ),
}


def _script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text:
        if not ch.isalpha():
            continue
        cp = ord(ch)
        for lo, hi, name in _SCRIPT_RANGES:
            if lo <= cp <= hi:
                counts[name] = counts.get(name, 0) + 1
                break
        else:
            counts["other"] = counts.get("other", 0) + 1
    return counts


def _arabic_script_language(text: str) -> str:
    """Persian, Arabic (or Urdu, Pashto, Kurdish) for text written in Arabic script."""
    letters = [ch for ch in text if "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f"]
    n = max(len(letters), 1)
    for code, marks in (("ur", _UR_LETTERS), ("ps", _PS_LETTERS), ("ku", _KU_LETTERS)):
        hits = sum(ch in marks for ch in letters)
        if hits >= 3 and hits / n >= 0.02:
            return code

    tokens = _AR_WORD.findall(unicodedata.normalize("NFKC", text).translate(_NORM_DIACRITICS))
    # ZWNJ is a Persian writing habit; Arabic text has no use for it.
    fa = 0.5 * min(text.count(ZWNJ), len(tokens))
    ar = 0.0
    for tok in tokens:
        fa_tok = tok.replace("\u064a", "\u06cc").replace("\u0643", "\u06a9")
        ar_tok = tok.replace("\u06cc", "\u064a").replace("\u06a9", "\u0643")
        if fa_tok in _FA_WORDS:
            fa += 1.0
        if ar_tok in _AR_WORDS:
            ar += 1.0
        elif ar_tok in _AR_WEAK_WORDS:
            ar += 0.5
        if any(ch in _FA_LETTERS for ch in tok):
            fa += 1.0
        if any(ch in _FA_FORMS for ch in tok):
            fa += 0.5
        if fa_tok.startswith(("می", "نمی")) and len(fa_tok) >= 5 and fa_tok[-1] in "دمه":
            fa += 0.5  # verb with the Persian durative prefix, ZWNJ lost: میشود، میکنم
        if "\u0629" in tok:  # ة
            ar += 1.0
        if tok.endswith("\u0649") or "\u0623" in tok or "\u0625" in tok:  # ى أ إ
            ar += 0.5
        if len(tok) > 3 and ar_tok.startswith(_AR_PREFIXES):
            ar += 0.75
    if fa == ar:
        # No evidence either way: Persian codepoints are the last hint.
        return "fa" if any(ch in _FA_FORMS for ch in letters) else "ar"
    return "fa" if fa > ar else "ar"


def _latin_language(text: str) -> str:
    words = [w.casefold() for w in _LATIN_WORD.findall(text)]
    scores = {code: sum(w in stop for w in words) for code, stop in _LATIN_STOPWORDS.items()}
    if "ə" in text.casefold():
        return "az"
    best = max(scores, key=lambda c: scores[c])
    ranked = sorted(scores.values(), reverse=True)
    if ranked[0] >= 2 and ranked[0] > ranked[1]:
        return best
    if ranked[0] == 0 or best == "en" or scores["en"] == ranked[0]:
        # Headline style often has no function word at all ("Trump Signs Order"); an
        # ASCII-only text is then most likely English. Anything else stays unknown.
        return "en" if all(ord(ch) < 128 for ch in "".join(words)) else "other"
    return "other"


def _latin_is_prose(text: str) -> bool:
    words = [w.casefold() for w in _LATIN_WORD.findall(text)]
    return max(sum(w in stop for w in words) for stop in _LATIN_STOPWORDS.values()) >= 2


_NORM_DIACRITICS = {ord(c): None for c in _DIACRITICS + TATWEEL + _INVISIBLE.replace(ZWNJ, "")}
_NORM_DIACRITICS[ord(ZWNJ)] = " "


def detect_language(text: str) -> str:
    """ISO 639-1 code: "fa", "ar", "en", a few others where the script says it, else "other".

    Rules, not a model: the dominant script decides first; Persian vs Arabic is weighed from
    letters only one of them uses and from very frequent function words, so that Persian typed
    with Arabic yeh and kaf and eight-word headlines still come out right.
    """
    s = _URLISH.sub(" ", text).replace("#", " ").replace("_", " ")
    counts = _script_counts(s)
    if not counts:
        return "other"
    script = max(counts, key=lambda k: counts[k])
    if script == "latn" and counts.get("arab", 0) >= 0.25 * sum(counts.values()):
        # Persian or Arabic with embedded Latin names: trust Latin only if it reads as prose.
        latin = _latin_language(s)
        if latin == "other" or not _latin_is_prose(s):
            return _arabic_script_language(s)
        return latin
    if script == "arab":
        return _arabic_script_language(s)
    if script == "latn":
        return _latin_language(s)
    if script == "cyrl":
        low = s.casefold()
        if any(ch in low for ch in "іїєґ"):
            return "uk"
        if any(ch in low for ch in "ђћџљњј"):
            return "sr"
        return "ru"
    if script == "kana":
        return "ja"
    if script == "han":
        return "ja" if counts.get("kana", 0) else "zh"
    if script == "other":
        return "other"
    return script


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------

_JALALI_MONTHS = [
    ["فروردین", "حمل"],
    ["اردیبهشت", "ثور"],
    ["خرداد", "جوزا", "جوزاء"],
    ["تیر", "سرطان"],
    ["مرداد", "امرداد", "اسد"],
    ["شهریور", "سنبله"],
    ["مهر", "میزان"],
    ["آبان", "عقرب"],
    ["آذر", "قوس"],
    ["دی", "جدی"],
    ["بهمن", "دلو"],
    ["اسفند", "حوت"],
]  # Iranian names, then the Afghan (Dari) names of the same solar months.

_HIJRI_MONTHS = [
    ["محرم", "محرم الحرام"],
    ["صفر", "صفر المظفر"],
    ["ربيع الأول", "ربيع أول", "ربیع الاول"],
    ["ربيع الآخر", "ربيع الثاني", "ربيع ثاني", "ربیع الثانی"],
    ["جمادى الأولى", "جمادى الأول", "جمادی الاول", "جمادی الاولی"],
    [
        "جمادى الآخرة",
        "جمادى الثانية",
        "جمادى الآخر",
        "جمادى الثاني",
        "جمادی الثانی",
        "جمادی الاخر",
        "جمادی الاخری",
    ],
    ["رجب", "رجب المرجب"],
    ["شعبان", "شعبان المعظم"],
    ["رمضان", "رمضان المبارك"],
    ["شوال", "شوال المكرم"],
    ["ذو القعدة", "ذي القعدة", "ذی قعده", "ذیقعده"],
    ["ذو الحجة", "ذي الحجة", "ذی حجه", "ذیحجه"],
]

_GREGORIAN_MONTHS = [
    ["january", "jan", "يناير", "كانون الثاني", "جانفي", "ژانویه"],
    ["february", "feb", "فبراير", "شباط", "فيفري", "فوریه"],
    ["march", "mar", "مارس", "آذار"],
    ["april", "apr", "أبريل", "إبريل", "نيسان", "أفريل", "آوریل"],
    ["may", "مايو", "أيار", "ماي", "مه", "می"],
    ["june", "jun", "يونيو", "يونيه", "حزيران", "جوان", "ژوئن"],
    ["july", "jul", "يوليو", "يوليه", "تموز", "جويلية", "ژوئیه", "جولای"],
    ["august", "aug", "أغسطس", "آب", "أوت", "اوت", "آگوست"],
    ["september", "sep", "sept", "سبتمبر", "أيلول", "سپتامبر"],
    ["october", "oct", "أكتوبر", "تشرين الأول", "اکتبر"],
    ["november", "nov", "نوفمبر", "تشرين الثاني", "نوامبر"],
    ["december", "dec", "ديسمبر", "كانون الأول", "دسامبر"],
]

_CALENDAR_YEARS = {"jalali": (1300, 1499), "hijri": (1343, 1500), "gregorian": (1900, 2100)}


def _month_lookup() -> tuple[dict[str, tuple[str, int]], str]:
    """Map each normalised month name to (calendar, month) and build one regex alternation.

    Names are normalised exactly like the text they are matched against, and an internal space
    may be written, dropped (ZWNJ deleted) or doubled, so "ربیع‌الاول" and "ربيع الأول" match.
    """
    table: dict[str, tuple[str, int]] = {}
    for calendar, months in (
        ("jalali", _JALALI_MONTHS),
        ("hijri", _HIJRI_MONTHS),
        ("gregorian", _GREGORIAN_MONTHS),
    ):
        for number, names in enumerate(months, start=1):
            for name in names:
                table.setdefault(normalize(name).replace(" ", ""), (calendar, number))
    # Longest first so that "ربیع الاول" wins over a shorter prefix.
    names = sorted(
        {
            normalize(n)
            for ms in (_JALALI_MONTHS, _HIJRI_MONTHS, _GREGORIAN_MONTHS)
            for group in ms
            for n in group
        },
        key=len,
        reverse=True,
    )
    alternation = "|".join(r"\s?".join(map(re.escape, n.split(" "))) for n in names)
    return table, alternation


_MONTHS, _MONTH_RE = _month_lookup()
_D = r"(?<![\d.:/-])(?P<d>\d{1,2})(?:st|nd|rd|th)?"
_Y = r"(?P<y>\d{4})(?!\d)"
_M = rf"(?P<m>{_MONTH_RE})(?:\s?ماه)?\b\.?"
_M2 = rf"(?:\s?/\s?(?:{_MONTH_RE})\b)?"  # "سبتمبر/أيلول": a second name for the same month
_NAMED_DATES = [
    # 20 مهر 1404, 20 مهرماه 1404, 19 Sep 2023, 25 ديسمبر/كانون الأول 2024, 15 ربيع الآخر 1447
    re.compile(rf"{_D}\s?(?:of\s)?{_M}{_M2}\s?,?\s?{_Y}"),
    # September 19, 2023
    re.compile(rf"{_M}\s?{_D}\s?,?\s?{_Y}"),
    # 2023 September 19
    re.compile(rf"(?<![\d])(?P<y>\d{{4}})\s?,?\s?{_M}\s?(?P<d>\d{{1,2}})(?!\d)"),
]
_SEP = r"[-/.]"
# A lunar Hijri marker after a numeric date: هـ (tatweel is gone after normalize), ه.ق, قمری.
_HIJRI_MARK = r"(?P<h>\s?(?:ه\.?\s?ق\b|هجری\s?قمری|قمری|ه(?![\w.])))?"
_NUMERIC_YMD = re.compile(
    rf"(?<![\d.:/-])(?P<y>\d{{4}})(?P<sep>{_SEP})(?P<m>\d{{1,2}}){_SEP}(?P<d>\d{{1,2}})"
    rf"(?!\d|{_SEP}\d){_HIJRI_MARK}"
)
_NUMERIC_DMY = re.compile(
    rf"(?<![\d.:/-])(?P<d>\d{{1,2}}){_SEP}(?P<m>\d{{1,2}}){_SEP}(?P<y>\d{{4}})"
    rf"(?!\d|{_SEP}\d){_HIJRI_MARK}"
)


def _to_gregorian(calendar: str, y: int, m: int, d: int) -> datetime.date | None:
    """Convert with the calendar libraries; None for an impossible date or a year out of range."""
    lo, hi = _CALENDAR_YEARS[calendar]
    if not lo <= y <= hi:
        return None
    try:
        if calendar == "jalali":
            return jdatetime.date(y, m, d).togregorian()
        if calendar == "hijri":
            g = hijridate.Hijri(y, m, d).to_gregorian()
            return datetime.date(g.year, g.month, g.day)
        return datetime.date(y, m, d)
    except (ValueError, OverflowError):
        return None


def _numeric_calendar(y: int, hijri_mark: bool) -> str:
    """Which calendar a numeric date with this year is in.

    Years 1300-1499 are Jalali (the Persian convention) unless marked lunar; a year beyond next
    Jalali year cannot be a publication date, while it is the current Hijri year (1447 Hijri is
    2025), so such a year is read as Hijri.
    """
    if hijri_mark:
        return "hijri"
    lo, hi = _CALENDAR_YEARS["jalali"]
    if lo <= y <= hi:
        return "jalali" if y <= jdatetime.date.today().year + 1 else "hijri"
    return "gregorian"


_Found = tuple[int, int, datetime.date, str]


def _find_dates(norm: str) -> list[_Found]:
    """Dates in a normalised string as (start, end, date, kind), by position, no overlaps.

    kind is "named" (a month name), "iso" (yyyy-mm-dd) or "numeric" (other digit forms).
    """
    found: list[_Found] = []
    for pattern in _NAMED_DATES:
        for m in pattern.finditer(norm):
            calendar, month = _MONTHS[re.sub(r"\s", "", m["m"])]
            date = _to_gregorian(calendar, int(m["y"]), month, int(m["d"]))
            if date is not None:
                found.append((m.start(), m.end(), date, "named"))
    for pattern in (_NUMERIC_YMD, _NUMERIC_DMY):
        for m in pattern.finditer(norm):
            y, mo, d = int(m["y"]), int(m["m"]), int(m["d"])
            calendar = _numeric_calendar(y, bool(m["h"]))
            if calendar == "gregorian" and pattern is _NUMERIC_DMY and d <= 12 and d != mo:
                continue  # 09/10/2025: day first or month first? Do not guess.
            date = _to_gregorian(calendar, y, mo, d)
            if date is not None:
                iso = pattern is _NUMERIC_YMD and m["sep"] == "-"
                found.append((m.start(), m.end(), date, "iso" if iso else "numeric"))
    found.sort(key=lambda t: (t[0], -t[1]))
    kept: list[_Found] = []
    for item in found:
        if not kept or item[0] >= kept[-1][1]:
            kept.append(item)
    return kept


def _norm_lines(text: str) -> str:
    """normalize() line by line, so that a pattern never runs across a line break."""
    return "\n".join(normalize(line) for line in text.split("\n"))


def _is_prose(line: str) -> bool:
    n = _words(line)
    return n >= 30 or (n >= 12 and bool(_SENTENCE_END.search(line)))


def _head_lines(lines: list[str]) -> list[str]:
    """Lines before the second paragraph of prose: where bylines and datelines are."""
    prose = 0
    for i, line in enumerate(lines):
        if _is_prose(line):
            prose += 1
            if prose == 2:
                return lines[:i]
    return lines


def extract_date(text: str, *, head_chars: int = 600) -> datetime.date | None:
    """The publication date written in a story, or None.

    Looks at the head of the text first: title, byline, dateline and lead paragraph, up to the
    second paragraph of prose and at most `head_chars` characters (a leading ticker of other
    headlines is skipped); there the first date of any supported form wins. Further on, a date
    in running text is usually an event date, not the publication date, so the rest is searched
    only for full dates (month name or ISO) on short metadata lines.
    Give it the raw text: `strip_boilerplate` removes the date lines this function reads.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ticker = _ticker_index(lines)
    if ticker is not None:
        lines = lines[:ticker] + lines[ticker + 1 :]
    head = _find_dates(_norm_lines("\n".join(_head_lines(lines))[:head_chars]))
    if head:
        return head[0][2]
    for line in lines:
        if _is_metadata_line(line):
            dates = [f for f in _find_dates(normalize(line)) if f[3] != "numeric"]
            if dates:
                return dates[0][2]
    return None


# --------------------------------------------------------------------------------------------
# Boilerplate
# --------------------------------------------------------------------------------------------


def _phrase_regex(phrases: Iterable[str], *, whole: bool = False) -> re.Pattern[str]:
    """Regex over normalize()d lines for phrases, tolerant to ZWNJ/space variants."""
    alts = sorted({normalize(p) for p in phrases}, key=len, reverse=True)
    body = "|".join(r"\s?".join(map(re.escape, p.split(" "))) for p in alts)
    if whole:
        return re.compile(rf"^(?:{body})$")
    return re.compile(rf"^(?:{body})(?![^\W\d_])")


# Labels that start a metadata line: a date, an id, an update stamp, a reading time.
_META_LABELS = _phrase_regex(
    [
        "date",
        "published",
        "published on",
        "updated",
        "last updated",
        "posted",
        "posted on",
        "تاریخ",
        "تاریخ انتشار",
        "تاریخ خبر",
        "زمان انتشار",
        "منتشر شده",
        "انتشار",
        "به روز رسانی",
        "بروزرسانی",
        "آخرین بروزرسانی",
        "کد خبر",
        "کد مطلب",
        "شناسه خبر",
        "شماره خبر",
        "زمان مطالعه",
        "مدت زمان مطالعه",
        "تاريخ",
        "تاريخ النشر",
        "نشر في",
        "نشر بتاريخ",
        "تم النشر",
        "آخر تحديث",
        "تحديث",
        "رقم الخبر",
        "reading time",
    ]
)

# Lines that are a site's navigation or widget labels, when they make up the whole line.
_NAV_LINES = _phrase_regex(
    [
        "ارسال نظر",
        "نظرات",
        "نظر شما",
        "آخرین اخبار",
        "اخبار مرتبط",
        "مطالب مرتبط",
        "خبرهای مرتبط",
        "پربازدیدترین",
        "پربازدیدترین اخبار",
        "پربحث ترین",
        "پربحث ترین اخبار",
        "پرطرفدارترین",
        "پرطرفدارترین اخبار",
        "پربیننده ترین",
        "پربیننده ترین اخبار",
        "چاپ",
        "چاپ خبر",
        "اشتراک گذاری",
        "لینک کوتاه",
        "کپی شد",
        "صفحه اصلی",
        "بازگشت",
        "انتهای پیام",
        "انتهای خبر",
        "شارك",
        "مشاركة",
        "شارك الخبر",
        "طباعة",
        "أضف تعليق",
        "التعليقات",
        "آخر الأخبار",
        "الأكثر قراءة",
        "الأكثر مشاهدة",
        "أخبار ذات صلة",
        "مواضيع ذات صلة",
        "ذات صلة",
        "اقرأ أيضا",
        "share",
        "share this",
        "share this article",
        "print",
        "comments",
        "leave a comment",
        "related",
        "related news",
        "related articles",
        "most read",
        "most popular",
        "latest news",
        "advertisement",
        "read more",
        "more",
        "back to top",
        "subscribe",
    ],
    whole=True,
)

# Labels that start a line which is not the story (a pointer to another story, tags, sharing).
_PREFIX_LINES = _phrase_regex(
    [
        "اقرأ أيضا",
        "اقرأ المزيد",
        "اقرأ كذلك",
        "إقرأ أيضاً",
        "بیشتر بخوانید",
        "بخوانید",
        "ببینید",
        "مطلب مرتبط",
        "خبر مرتبط",
        "برچسب ها",
        "برچسب",
        "کلیدواژه ها",
        "کلید واژه ها",
        "کلمات کلیدی",
        "الكلمات الدالة",
        "كلمات مفتاحية",
        "الوسوم",
        "وسوم",
        "تابعونا",
        "تابعوا",
        "read more",
        "read also",
        "see also",
        "related",
        "tags",
        "follow us",
        "sign up",
        "click here",
        "لینک کوتاه",
        "short link",
        "رابط مختصر",
        "عضویت در کانال",
        "ما را در",
        "به کانال",
    ]
)

# Copyright, legal and aggregator disclaimers: any length, but only in the footer, and
# specific enough that a story's own last sentence does not match.
_FOOTER_MARKERS = re.compile(
    "|".join(
        r"\s?".join(map(re.escape, normalize(p).split(" ")))
        for p in [
            "کلیه حقوق",
            "تمامی حقوق",
            "همه حقوق",
            "حقوق این سایت",
            "حقوق مادی و معنوی",
            "در قبال محتوا",
            "منبع خبر",
            "قانون تجارت الکترونیک",
            "استفاده از مطالب",
            "نقل مطالب",
            "کپی رایت",
            "جميع الحقوق",
            "حقوق النشر",
            "حقوق الطبع",
            "الحقوق محفوظة",
            "يمنع نسخ",
            "يمنع النسخ",
            "all rights reserved",
            "©",
            "terms of use",
            "privacy policy",
            "we use cookies",
        ]
    )
    + r"|copyright\s?(?:\(c\)|\d{4})"
)

_WEEKDAYS_AND_TIME = frozenset(
    normalize(w)
    for w in "شنبه یکشنبه دوشنبه سه سهشنبه چهارشنبه پنجشنبه جمعه ساعت السبت الأحد الاثنين "
    "الإثنين الثلاثاء الأربعاء الخميس الجمعة الساعة monday tuesday wednesday thursday friday "
    "saturday sunday mon tue wed thu fri sat sun at am pm gmt utc ق.ظ ب.ظ ص م".split()
)
_SENTENCE_END = re.compile(r"[.!?\u061f\u2026]['\"\u00bb\u201d)]*\s*$")
_LETTERS_RE = re.compile(r"[^\W\d_]")
_WORDS_RE = re.compile(r"[^\W\d_][^\W_]*(?:\.[^\W\d_]+)*")


def _words(line: str) -> int:
    return len(line.split())


def _is_metadata_line(line: str, *, first: bool = False) -> bool:
    """A short line that only states a date, an id or an update stamp (plus maybe the outlet)."""
    norm = normalize(line)
    if not norm or _words(norm) > 14:
        return False
    label = _META_LABELS.match(norm)
    if label and (
        norm[label.end() :].lstrip().startswith((":", "|", "-")) or any(ch.isdigit() for ch in norm)
    ):
        return True
    if _SENTENCE_END.search(norm):
        return False
    dates = _find_dates(norm)
    if not dates:
        return False
    rest = norm
    for start, end, _, _ in reversed(dates):
        rest = rest[:start] + " " + rest[end:]
    words = [w for w in _WORDS_RE.findall(rest) if w not in _WEEKDAYS_AND_TIME]
    return len(words) <= (0 if first else 3)


def _is_noise_line(line: str, *, first: bool = False) -> bool:
    """Lines that are never part of a story, wherever they are."""
    norm = normalize(line)
    if not norm:
        return False
    if not _LETTERS_RE.search(norm):
        return True  # a view counter, a time, a rule of dashes
    bare = re.sub(r"[\W\d_]+$", "", re.sub(r"^[\W\d_]+", "", norm))
    if _NAV_LINES.match(bare):
        return True
    if _PREFIX_LINES.match(bare) and _words(norm) <= 25:
        return True
    return _is_metadata_line(line, first=first) or _is_breadcrumb(norm)


def _is_breadcrumb(norm: str) -> bool:
    """ "Home > Politics > Middle East": short segments joined by navigation arrows."""
    parts = [p.strip() for p in re.split(r"\s[>›|]\s|\s?[›]\s?", norm)]
    return (
        len(parts) >= 3
        and all(0 < _words(p) <= 4 for p in parts)
        and not _SENTENCE_END.search(norm)
    )


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


def strip_boilerplate(text: str) -> str:
    """Remove what a scraper drags in that is not the story; the story's lines are kept as is.

    Removes: a leading headline ticker; lines that are only numbers or punctuation (view
    counters); metadata lines (date/byline stamps, news ids); navigation, "read more", tags and
    sharing lines; and at the end, copyright, legal and aggregator disclaimers. A text with
    nothing to remove comes back unchanged (same string).
    """
    lines = text.split("\n")
    drop: set[int] = set()
    ticker = _ticker_index(lines)
    if ticker is not None:
        drop.add(ticker)
    first = next((i for i, ln in enumerate(lines) if ln.strip() and i not in drop), None)
    for i, line in enumerate(lines):
        if i not in drop and _is_noise_line(line, first=i == first):
            drop.add(i)
    # The footer: walk up from the end over blank, noise and disclaimer lines.
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if not line.strip() or i in drop:
            continue
        if _FOOTER_MARKERS.search(normalize(line)):
            drop.add(i)
            continue
        break
    if not drop or all(i in drop for i, ln in enumerate(lines) if ln.strip()):
        return text  # nothing to remove, or nothing would be left: keep what we were given
    kept: list[str] = []
    for i, line in enumerate(lines):
        if i in drop:
            continue
        if not line.strip():
            if kept and kept[-1].strip():
                kept.append("")
            continue
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


# --------------------------------------------------------------------------------------------
# Title
# --------------------------------------------------------------------------------------------

_FIRST_SENTENCE = re.compile(r"^(.+?[.!?\u061f])(?=\s|$)")


def split_title(text: str) -> tuple[str, str]:
    """(title, body) of a plain-text story: the first line of the cleaned text is the title.

    When that line is a whole paragraph (more than 30 words) there is no real title: the title
    becomes its first sentence (or first 20 words and an ellipsis) and the body keeps all text.
    """
    cleaned = strip_boilerplate(text)
    lines = cleaned.split("\n")
    idx = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if idx is None:
        return "", ""
    first = _WS.sub(" ", lines[idx]).strip()
    if _words(first) <= 30:
        return first, "\n".join(lines[idx + 1 :]).strip()
    sentence = _FIRST_SENTENCE.match(first)
    if sentence and _words(sentence.group(1)) <= 30:
        title = sentence.group(1)
    else:
        title = " ".join(first.split()[:20]) + "…"
    return title, "\n".join(lines[idx:]).strip()
