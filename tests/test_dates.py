"""Tests for embed.dates.infer_date: a publication date estimated from dates in the body."""

from __future__ import annotations

import datetime
from pathlib import Path

import hijridate
import jdatetime
import pytest

from embed.dates import extract_date, infer_date

SEEDS = Path(__file__).parent.parent / "examples" / "seeds"
D = datetime.date


def seed(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def jalali(y: int, m: int, d: int) -> datetime.date:
    return jdatetime.date(y, m, d).togregorian()


def hijri(y: int, m: int, d: int) -> datetime.date:
    g = hijridate.Hijri(y, m, d).to_gregorian()
    return D(g.year, g.month, g.day)


def test_calendar_conversions_used_below() -> None:
    # Checked by hand against a Jalali and a Hijri calendar.
    assert jalali(1401, 10, 20) == D(2023, 1, 10)
    assert jalali(1402, 6, 28) == D(2023, 9, 19)
    assert jalali(1401, 7, 5) == D(2022, 9, 27)
    assert jalali(1357, 11, 22) == D(1979, 2, 11)
    assert jalali(1402, 9, 20) == D(2023, 12, 11)
    assert hijri(1447, 4, 15) == D(2025, 10, 7)
    assert hijri(1445, 1, 10) == D(2023, 7, 28)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("وزیر خارجه روز سه شنبه ۲۸ شهریور ۱۴۰۲ به نیویورک رفت.", D(2023, 9, 19)),
        ("وصل الوزير إلى الرياض يوم 15 ربيع الآخر 1447 هـ في زيارة رسمية.", D(2025, 10, 7)),
        ("The minister said on September 19, 2023 that talks would resume.", D(2023, 9, 19)),
    ],
)
def test_full_date_in_body(text: str, expected: datetime.date) -> None:
    assert infer_date("عنوان خبر\n\n" + text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Gregorian year, Jalali day+month: 20 Dey falls in 2023 in Jalali year 1401.
        (
            "نیروها مطابق برنامه سال ۲۰۲۳ تمرین کردند. او سه شنبه ۲۰ دی ماه اعلام کرد.",
            D(2023, 1, 10),
        ),
        # Jalali year, Jalali day+month.
        ("بودجه سال ۱۴۰۱ تصویب شد. وزیر روز ۵ مهر در مجلس حاضر شد.", D(2022, 9, 27)),
        # Arabic month name with a year word.
        ("التقى الرئيسان في 9 أكتوبر لبحث خطط عام 2025.", D(2025, 10, 9)),
        # English, month first.
        ("The talks began on September 19 and are the first in 2023.", D(2023, 9, 19)),
        # Hijri day+month, year marked as Hijri.
        ("أحيا المسلمون ذكرى عاشوراء يوم 10 محرم من عام 1445 هـ.", D(2023, 7, 28)),
        # A full date elsewhere is context too: 20 Dey next to 12 December 2022.
        ("پیشتر در ۱۲ دسامبر ۲۰۲۲ جاده بسته شد. او ۲۰ دی ماه گفت.", D(2023, 1, 10)),
    ],
)
def test_yearless_date_resolved_by_year_in_text(text: str, expected: datetime.date) -> None:
    assert infer_date(text) == expected


def test_future_dates_dropped_by_not_after() -> None:
    text = "The deal was signed on 12 January 2023 and takes effect on 1 March 2024."
    assert infer_date(text) == D(2024, 3, 1)
    assert infer_date(text, not_after=D(2023, 2, 1)) == D(2023, 1, 12)
    assert infer_date(text, not_after=D(2022, 12, 31)) is None


def test_yearless_date_resolved_before_not_after_check() -> None:
    # 20 Azar closest to "2023" is 20 Azar 1402 (2023-12-11), after the scrape: dropped.
    text = "در سال ۲۰۲۳ انتخابات برگزار میشود. او ۲۰ آذر سخنرانی کرد. در ۵ ژانویه ۲۰۲۳ سفر کرد."
    assert infer_date(text) == jalali(1402, 9, 20)
    assert infer_date(text, not_after=D(2023, 1, 17)) == D(2023, 1, 5)


def test_background_history_does_not_win() -> None:
    text = (
        "انقلاب در ۲۲ بهمن ۱۳۵۷ پیروز شد و جنگ در 22 September 1980 آغاز شد. "
        "وزیر روز ۱۰ ژانویه ۲۰۲۳ و سپس ۲۰ دی ماه سخن گفت."
    )
    assert infer_date(text, not_after=D(2023, 6, 1)) == jalali(1401, 10, 20)


def test_only_history_gives_the_history() -> None:
    # The rules cannot tell: a story whose only date is history is dated by that history.
    assert infer_date("The revolution won on 22 بهمن 1357.") == jalali(1357, 11, 22)


@pytest.mark.parametrize(
    "text",
    [
        "نخست وزیر سه شنبه ۲۰ دی ماه در سخنانی اعلام کرد.",  # no year at all
        "او ۲۰ دی ماه گفت که ۲۰۲۳ نفر بازداشت شدند.",  # a bare number is not a year
        "The summit opened on September 19 in New York.",
        "بودجه سال ۱۴۰۲ تصویب شد. ۵ سرطان در این فهرست است.",  # "سرطان": cancer, not a month
        "بودجه سال ۱۴۰۲ تصویب شد. در مهر ۱۰ نفر کشته شدند.",  # month first is not Persian
        "",
    ],
)
def test_no_date(text: str) -> None:
    assert infer_date(text) is None


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("000", jalali(1404, 7, 20)),  # head date 2025-10-12
        ("001", D(2025, 10, 9)),
        ("003", jalali(1402, 6, 28)),  # 2023-09-19
        ("004", None),  # no year anywhere
    ],
)
def test_seeds(prefix: str, expected: datetime.date | None) -> None:
    assert infer_date(seed(prefix)) == expected


def test_seed_002_body_dates() -> None:
    text = seed("002")
    assert extract_date(text) is None
    # "سال ۲۰۲۳" and "۱۲ دسامبر ۲۰۲۲" place "سه شنبه ۲۰ دی ماه" in 1401; labels say 2023-01-17.
    assert infer_date(text) == jalali(1401, 10, 20) == D(2023, 1, 10)
    assert infer_date(text, not_after=D(2023, 1, 17)) == D(2023, 1, 10)
    assert infer_date(text, not_after=D(2023, 1, 9)) == D(2022, 12, 12)
