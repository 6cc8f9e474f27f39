"""Publication dates: `extract_date` and `infer_date`, over Jalali, lunar Hijri and Gregorian.

Kept apart for its month-name tables and calendar conversions (`jdatetime`, `hijridate`),
which nothing else needs. Metadata-line detection lives here because it needs the date finder
and `extract_date` needs it; `embed.boilerplate` imports it from here.
"""

from __future__ import annotations

import datetime
import re

import hijridate
import jdatetime

from embed.chars import (
    _SENTENCE_END,
    _phrase_regex,
    _ticker_index,
    _words,
    normalize,
    normalize_line,
)

# --------------------------------------------------------------------------------------------
# Finding dates
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


# --------------------------------------------------------------------------------------------
# Metadata lines
# --------------------------------------------------------------------------------------------

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

_WEEKDAYS_AND_TIME = frozenset(
    normalize(w)
    for w in "شنبه یکشنبه دوشنبه سه سهشنبه چهارشنبه پنجشنبه جمعه ساعت السبت الأحد الاثنين "
    "الإثنين الثلاثاء الأربعاء الخميس الجمعة الساعة monday tuesday wednesday thursday friday "
    "saturday sunday mon tue wed thu fri sat sun at am pm gmt utc ق.ظ ب.ظ ص م".split()
)
_WORDS_RE = re.compile(r"[^\W\d_][^\W_]*(?:\.[^\W\d_]+)*")


def _is_metadata_line(line: str, *, first: bool = False) -> bool:
    """A short line that only states a date, an id or an update stamp (plus maybe the outlet)."""
    norm = normalize_line(line)
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


# --------------------------------------------------------------------------------------------
# Publication date
# --------------------------------------------------------------------------------------------


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
# Inferred date: dates anywhere in the body
# --------------------------------------------------------------------------------------------

# Month names that are also everyday words ("سرطان" cancer, "آب" water, "صفر" zero, "میزان"
# amount, the verb prefix "می", English "may"): after a bare number they are as likely the word
# as the month, so no year-less date is read from them. With a year they are still dates.
_WORDY_MONTHS = frozenset(
    normalize(n)
    for n in "حمل ثور جوزا جوزاء سرطان اسد سنبله میزان عقرب قوس جدی دلو حوت آب "
    "صفر می may mar".split()
)
# The month of a year-less date; possessive, so that "دی ماه ۱۴۰۱" cannot match as "دی".
_M_ALONE = rf"(?P<m>{_MONTH_RE})(?:\s?ماه)?+\b(?:\s?/\s?(?:{_MONTH_RE})\b)?+\.?+"
_NO_YEAR = r"(?!\s?,?\s?\d|[:.]\d)"
_ENGLISH_MONTHS = "|".join(n for ms in _GREGORIAN_MONTHS for n in ms if n.isascii())
_YEARLESS = [
    # ۲۰ دی ماه, 9 أكتوبر, 19th of September
    re.compile(rf"{_D}\s?(?:of\s)?{_M_ALONE}{_NO_YEAR}"),
    # September 19 (month first is an English habit only: "در مهر ۱۰ نفر" is not a date)
    re.compile(
        rf"\b(?P<m>{_ENGLISH_MONTHS})\b\.?\s?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?!\w){_NO_YEAR}"
    ),
]

# A year is a 4-digit number written as one: after a year word, after a month name, or followed
# by a calendar mark. Marks name the calendar; otherwise a month name or the number's range does.
_YEAR_WORD = r"سال(?:\s?های)?|[وفبل]?(?:ال)?(?:عام|سنه)|in|since|year|during|until"
_YEAR_MARKS = {
    "jalali": r"ه\.?\s?ش(?!\w)|هجری\s?شمسی|شمسی|خورشیدی",
    "hijri": r"ه\.?\s?ق(?!\w)|هجری\s?قمری|قمری|هجری|ه(?!\w)",
    "gregorian": r"میلادی|ad(?!\w)|ce(?!\w)",  # not a bare "م": "2000 م" may be metres
}
_YEAR_CUE = re.compile(
    rf"(?:(?<![^\W\d_])(?P<w>{_YEAR_WORD})\s?|(?P<m>{_MONTH_RE})(?:\s?ماه)?\b\.?\s?,?\s?)?"
    rf"(?<![\d.:/-])(?P<y>\d{{4}})(?![\d.:/-]?\d)"
    rf"(?:\s?(?:{'|'.join(f'(?P<{c}>{r})' for c, r in _YEAR_MARKS.items())}))?"
)

_Span = tuple[datetime.date, datetime.date]  # first and last day, Gregorian


def _year_span(calendar: str, y: int) -> _Span | None:
    """The Gregorian days of year `y` of a calendar, or None when the year is out of range."""
    start, after = _to_gregorian(calendar, y, 1, 1), _to_gregorian(calendar, y + 1, 1, 1)
    if start is None or after is None:  # the last year of a range: end on its last month
        return start and (start, _to_gregorian(calendar, y, 12, 29) or start)
    return start, after - datetime.timedelta(days=1)


def _year_spans(norm: str, full: list[_Found]) -> list[_Span]:
    """The years written in a normalised text as spans of days. Not those of full dates: the
    date is the better reference, its year would pull "۲۰ دی" by "۱۲ دسامبر ۲۰۲۲" to Jan 2022."""
    spans = []
    for m in _YEAR_CUE.finditer(norm):
        if any(m.start("y") < end and start < m.end("y") for start, end, _, _ in full):
            continue
        y = int(m["y"])
        mark = next((c for c in _YEAR_MARKS if m[c]), None)
        if m["m"]:
            calendar = _MONTHS[re.sub(r"\s", "", m["m"])][0]
        elif mark:
            calendar = mark
        elif m["w"]:
            calendar = _numeric_calendar(y, hijri_mark=False)
        else:
            continue  # a bare number: a count, a price, a flight number
        span = _year_span(calendar, y)
        if span is not None:
            spans.append(span)
    return spans


def _year_of(calendar: str, date: datetime.date) -> int:
    if calendar == "jalali":
        return jdatetime.date.fromgregorian(date=date).year
    if calendar == "hijri":
        return hijridate.Gregorian.fromdate(date).to_hijri().year
    return date.year


def _resolve(calendar: str, month: int, day: int, spans: list[_Span]) -> datetime.date | None:
    """The day+month in the year of its calendar closest to any span; ties go to the later."""

    def distance(date: datetime.date) -> datetime.timedelta:
        return min(max(a - date, date - b, datetime.timedelta(0)) for a, b in spans)

    candidates = set()
    for ref in {d for span in spans for d in span}:
        try:
            y0 = _year_of(calendar, ref)
        except (ValueError, OverflowError):
            continue  # no Hijri year for a Gregorian day outside hijridate's range
        for y in (y0 - 1, y0, y0 + 1):
            date = _to_gregorian(calendar, y, month, day)
            if date is not None:
                candidates.add(date)
    return min(candidates, key=lambda d: (distance(d), -d.toordinal()), default=None)


def infer_date(text: str, *, not_after: datetime.date | None = None) -> datetime.date | None:
    """An estimate of the publication date from the dates written anywhere in a story, or None.

    For stories where `extract_date` finds nothing. Takes every full date in the text, and every
    day+month without a year ("۲۰ دی ماه", "9 أكتوبر", "September 19") placed in the year of its
    calendar closest to the full dates and written years ("سال ۲۰۲۳", "عام 2023", "in 2023");
    with no year anywhere, year-less dates are ignored. Dates after `not_after` (the scrape date,
    or today) are dropped, and so is background more than a year older than the latest date;
    the latest date left is the estimate.
    """
    norm = _norm_lines(text)
    full = _find_dates(norm)
    dates = [date for _, _, date, _ in full]
    spans = [(date, date) for date in dates] + _year_spans(norm, full)
    if spans:
        for pattern in _YEARLESS:
            for m in pattern.finditer(norm):
                if any(m.start() < end and start < m.end() for start, end, _, _ in full):
                    continue  # part of a full date
                name = re.sub(r"\s", "", m["m"])
                if name in _WORDY_MONTHS and pattern is _YEARLESS[0]:
                    continue
                calendar, month = _MONTHS[name]
                date = _resolve(calendar, month, int(m["d"]), spans)
                if date is not None:
                    dates.append(date)
    dates = [d for d in dates if not_after is None or d <= not_after]
    if not dates:
        return None
    # Background history (over a year before the latest) goes; it cannot move the maximum.
    recent = [d for d in dates if d >= max(dates) - datetime.timedelta(days=365)]
    return max(recent)
