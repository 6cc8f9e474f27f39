"""Dates as an analyst reads them: Gregorian, with Jalali and lunar Hijri beside it for
Persian and Arabic stories (jdatetime and hijridate, as embed/dates.py uses them)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import hijridate
import jdatetime

JALALI_MONTHS = jdatetime.date.j_months_fa
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
LOCAL_CALENDARS = {"fa": ("jalali", "hijri"), "ar": ("hijri", "jalali")}  # shown first, then
FILE_DATE_NOTE = "no date in the text or metadata: the file's time, not a publication date"


@dataclass(frozen=True)
class Shown:
    """One date in one calendar: `text` in the story's script, `lang` and `calendar` for markup."""

    calendar: str
    text: str
    lang: str


def parse(value: str | None) -> datetime.datetime | datetime.date | None:
    """An ISO date or datetime as stored (published_at, ingested_at); None when absent or odd."""
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.date.fromisoformat(value)
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        return None


def gregorian(value: str | None) -> str:
    """`2025-10-12` or `2025-10-12 06:17 UTC`: the date as stored, minus seconds. Stored
    times are UTC (khabar.sources.normalise_date converts any offset)."""
    when = parse(value)
    if when is None:
        return value or "-"
    if isinstance(when, datetime.datetime):
        if when.tzinfo is not None:
            when = when.astimezone(datetime.UTC)
        return when.strftime("%Y-%m-%d %H:%M UTC")
    return when.isoformat()


def _day(value: str | None) -> datetime.date | None:
    when = parse(value)
    if isinstance(when, datetime.datetime):
        if when.tzinfo is not None:
            when = when.astimezone(datetime.UTC)
        return when.date()
    return when


def jalali(day: datetime.date) -> Shown:
    j = jdatetime.date.fromgregorian(date=day)
    text = f"{j.day} {JALALI_MONTHS[j.month - 1]} {j.year}".translate(PERSIAN_DIGITS)
    return Shown("jalali", text, "fa")


def hijri(day: datetime.date, lang: str) -> Shown | None:
    """Lunar Hijri (Umm al-Qura); None outside the years hijridate covers (1343-1500 AH)."""
    try:
        h = hijridate.Gregorian(day.year, day.month, day.day).to_hijri()
    except (ValueError, OverflowError):
        return None
    digits = PERSIAN_DIGITS if lang == "fa" else ARABIC_DIGITS
    text = f"{h.day} {h.month_name('ar')} {h.year} {h.notation('ar')}".translate(digits)
    return Shown("hijri", text, lang if lang in ("fa", "ar") else "ar")


def local_dates(value: str | None, lang: str | None) -> list[Shown]:
    """The Jalali and Hijri forms of a stored date, for fa and ar stories (none for others)."""
    day = _day(value)
    if day is None or lang not in LOCAL_CALENDARS:
        return []
    out = []
    for calendar in LOCAL_CALENDARS[lang]:
        shown = jalali(day) if calendar == "jalali" else hijri(day, lang)
        if shown is not None:
            out.append(shown)
    return out
