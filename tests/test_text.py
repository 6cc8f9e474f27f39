"""Tests for embed.text: normalisation, model cleaning, language id, boilerplate, dates, titles."""

from __future__ import annotations

import datetime
from pathlib import Path

import hijridate
import pytest

from embed.text import (
    clean_for_model,
    detect_language,
    extract_date,
    normalize,
    split_title,
    strip_boilerplate,
)

SEEDS = Path(__file__).parent.parent / "examples" / "seeds"


def seed(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------- normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("علي", "علی"),  # Arabic yeh
        ("على", "علی"),  # alef maksura
        ("كتاب", "کتاب"),  # Arabic kaf
        ("أحمد", "احمد"),
        ("إسلام", "اسلام"),
        ("آمد", "امد"),
        ("ٱلله", "الله"),
        ("رؤسا", "روسا"),  # hamza on waw
        ("مسئول", "مسیول"),  # hamza on yeh
        ("مدرسة", "مدرسه"),  # teh marbuta
        ("خانۀ", "خانه"),  # heh with yeh above
        ("مُحَمَّدٌ", "محمد"),  # harakat, shadda, tanwin
        ("سُكْون", "سکون"),  # sukun
        ("هٰذا", "هذا"),  # superscript alef
        ("ســـلام", "سلام"),  # tatweel
        ("\u200fسلام\u200e", "سلام"),  # bidi marks
        ("۱۲۳۴۵۶۷۸۹۰", "1234567890"),
        ("٠١٢٣٤٥٦٧٨٩", "0123456789"),
        ("سلام، خوبی؟ بله؛", "سلام, خوبی? بله;"),
        ("  Hello \n\t WORLD  ", "hello world"),
        ("Straße", "strasse"),
    ],
)
def test_normalize_maps_each_class(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_zwnj_variants() -> None:
    # ZWNJ is deleted: the joined and the ZWNJ spelling match, a real space stays a space.
    assert normalize("می\u200cشود") == normalize("میشود") == "میشود"
    assert normalize("تماس\u200cها") == normalize("تماسها")
    assert normalize("می شود") == "می شود"


def test_normalize_persian_typed_with_arabic_letters_matches() -> None:
    persian = "رئیس‌جمهور روسیه در دیدار با همتای آذربایجانی خود گفت"
    arabic_layout = "رئيسجمهور روسيه در ديدار با همتاي آذربايجاني خود گفت"
    assert normalize(persian) == normalize(arabic_layout)


@pytest.mark.parametrize(
    "text",
    [
        "ïI\u06ea\u0654\u0344",  # marks whose removal lets neighbours compose
        "\u0130stanbul ﬁnal ẞ",
        "ﻻ ﺍﻟﻠﻪ ﷲ",  # presentation forms
        "خانهٔ من\u200c \u200d",
    ],
)
def test_normalize_is_idempotent_on_tricky_text(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_normalize_is_idempotent_on_seeds(prefix: str) -> None:
    once = normalize(seed(prefix))
    assert normalize(once) == once
    assert "\n" not in once and "\u200c" not in once


# ---------------------------------------------------------------------------- clean_for_model


def test_clean_for_model_keeps_letters_and_zwnj() -> None:
    text = "می\u200cشود ــ كتاب عربي \u200fدر ۱۴۰۴"
    assert clean_for_model(text) == "می\u200cشود كتاب عربي در 1404"


def test_clean_for_model_joins_hard_wraps_and_keeps_paragraphs() -> None:
    text = "First line of a sentence\nthat continues here.\n\nSecond paragraph.\nThird one."
    assert clean_for_model(text) == (
        "First line of a sentence that continues here.\nSecond paragraph.\nThird one."
    )


def test_clean_for_model_on_hard_wrapped_seed() -> None:
    # 004 breaks lines in mid-sentence, sometimes with a blank line inside the sentence.
    paragraphs = clean_for_model(seed("004")).split("\n")
    assert paragraphs[0] == "پوتین و علی اف درباره قره باغ گفت و گو کردند"
    assert paragraphs[1].endswith("مسکو و باکو گفت و گو کردند.")
    assert "در مکان نخست شرکای خارجی این کشور قرار دارد." in paragraphs[4]
    assert "تشکیل می دهند." in paragraphs[6]
    assert len(paragraphs) == 13
    assert all(p.endswith(".") for p in paragraphs[1:])


def test_clean_for_model_keeps_seed_paragraphs() -> None:
    paragraphs = clean_for_model(seed("002")).split("\n")
    assert paragraphs[0] == "گفتگوی پوتین و علی اف درباره تجارت و همکاریهای اقتصادی"
    assert len(paragraphs) == 10


# ---------------------------------------------------------------------------- detect_language


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        # ntrex-dev (NTREX-128, CC BY-SA 4.0)
        (
            "A shark attacked and injured a 13-year-old boy Saturday while he was diving for "
            "lobster in California on the opening day of lobster season, officials said.",
            "en",
        ),
        ("Shark injures 13-year-old on lobster dive in California", "en"),
        # ans-ar-dev (ANS, Apache-2.0): short headlines
        ("هجوم صاروخي يستهدف مطار في طرابلس ويجبر ليبيا على تغيير مسار الرحلات الجوية", "ar"),
        ("خلاف بين بومبيو وأوغلو", "ar"),
        ("الخام الاميركي يسبب انخفاضا في اسعار النفط", "ar"),
        # exappc-fa-dev (ExaPPC, Apache-2.0)
        ("کاخ سفید اعلام کرد که رئیس جمهور آمریکا دستور رفع تحریم‌ها علیه ایران را صادر کرد.", "fa"),
        (
            "صراط: اولین جملات رئیس جمهور روسیه به وزیر خارجه آمریکا حاوی توصیه به استراحت بیشتر "
            "بوده است.",
            "fa",
        ),
        # Persian typed with Arabic yeh and kaf, as scrapes often are
        ("رئيس جمهور روسيه در ديدار با همتاي آذربايجاني خود گفت كه تحقيقات ادامه دارد", "fa"),
        ("كاهش تورم مناطق شهري به 11.8 درصد", "fa"),
        # Persian with embedded Latin names
        ("بررسی Johnny English Strikes Again - فیلم ضدجاسوسی و ضعیف Rowan Atkinson", "fa"),
        ("Президент заявил, что ситуация серьезная", "ru"),
        ("", "other"),
        ("12345 !!!", "other"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


@pytest.mark.parametrize(
    ("prefix", "lang"), [("000", "fa"), ("001", "ar"), ("002", "fa"), ("003", "fa"), ("004", "fa")]
)
def test_detect_language_on_seeds(prefix: str, lang: str) -> None:
    assert detect_language(seed(prefix)) == lang


def test_persian_name_ali_is_not_arabic_ala() -> None:
    # "علی اف" (Aliyev) must not count as the Arabic preposition "على".
    assert detect_language("پوتین و علی اف درباره قره باغ گفت و گو کردند") == "fa"


# ------------------------------------------------------------------------------- extract_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20 مهر 1404", datetime.date(2025, 10, 12)),
        ("خبرآنلاین یکشنبه 20 مهر 1404 - 16:17", datetime.date(2025, 10, 12)),
        ("۲۰ مهر ۱۴۰۴", datetime.date(2025, 10, 12)),
        ("۲۰ مهرماه ۱۴۰۴", datetime.date(2025, 10, 12)),
        ("1 فروردین 1403", datetime.date(2024, 3, 20)),
        ("30 اسفند 1403", datetime.date(2025, 3, 20)),  # 1403 is a leap year
        ("1404/07/20", datetime.date(2025, 10, 12)),
        ("۱۴۰۴/۰۷/۲۰", datetime.date(2025, 10, 12)),
        ("15 ربيع الآخر 1447 هـ", datetime.date(2025, 10, 7)),
        ("10 ذي الحجة 1446", datetime.date(2025, 6, 6)),  # Eid al-Adha 2025
        ("۱۰ ذی‌الحجه ۱۴۴۶", datetime.date(2025, 6, 6)),
        ("9 أكتوبر 2025", datetime.date(2025, 10, 9)),
        ("9 تشرين الأول 2025", datetime.date(2025, 10, 9)),
        ("25 ديسمبر/كانون الأول 2024", datetime.date(2024, 12, 25)),
        ("19 سپتامبر 2023", datetime.date(2023, 9, 19)),
        ("September 19, 2023", datetime.date(2023, 9, 19)),
        ("19 Sep 2023", datetime.date(2023, 9, 19)),
        ("2023 September 19", datetime.date(2023, 9, 19)),
        ("2025-10-09", datetime.date(2025, 10, 9)),
        ("25/12/2024", datetime.date(2024, 12, 25)),
    ],
)
def test_extract_date_forms(text: str, expected: datetime.date) -> None:
    assert extract_date(text) == expected


def test_hijri_expectation_matches_hijridate() -> None:
    g = hijridate.Hijri(1447, 4, 15).to_gregorian()
    assert extract_date("15 ربيع الآخر 1447 هـ") == datetime.date(g.year, g.month, g.day)


@pytest.mark.parametrize(
    "text",
    ["32 مهر 1404", "31 اسفند 1404", "2025-02-30", "1404/13/01", "09/10/2025", "ساعت 16:17", ""],
)
def test_extract_date_rejects_invalid_or_ambiguous(text: str) -> None:
    assert extract_date(text) is None


def test_extract_date_prefers_first_date_in_head() -> None:
    text = "Title\nPublished 3 May 2024, updated 2024-05-05\nBody."
    assert extract_date(text) == datetime.date(2024, 5, 3)


def test_extract_date_ignores_event_dates_deep_in_running_text() -> None:
    prose = "This is a long sentence of the story that goes on for quite a few words here. "
    text = "Title\n" + prose + "\n" + prose + "\nThe attack happened on 2 October 1968 in the city."
    assert extract_date(text) is None
    # ... but a metadata line at the end is read.
    assert extract_date(text + "\nPublished: 5 June 2024") == datetime.date(2024, 6, 5)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("000", datetime.date(2025, 10, 12)),
        ("001", datetime.date(2025, 10, 9)),
        ("002", None),
        ("003", datetime.date(2023, 9, 19)),
        ("004", None),
    ],
)
def test_extract_date_on_seeds(prefix: str, expected: datetime.date | None) -> None:
    assert extract_date(seed(prefix)) == expected


# -------------------------------------------------------------------------- strip_boilerplate


def _kept_except(raw: str, out: str, dropped: list[int]) -> bool:
    """Every non-blank line of raw, except the given line numbers (0-based), is kept verbatim."""
    kept = set(out.split("\n"))
    return all(
        ln in kept for i, ln in enumerate(raw.split("\n")) if ln.strip() and i not in dropped
    )


def test_strip_boilerplate_seed_000_footer() -> None:
    raw = seed("000")
    out = strip_boilerplate(raw)
    lines = out.split("\n")
    assert lines[0].startswith("خبر مهم سخنگوی کرملین")
    assert "219" not in lines
    assert "هیچ مسئولیتی ندارد" not in out
    assert "قانون تجارت الکترونیک" not in out
    assert "16:17" not in out  # the byline/date stamp line
    assert lines[-1].startswith("پوتین گفت که تحقیقات در مورد این سقوط")
    # Only the date stamp (line 3), the view count (22) and the two disclaimers (24, 25) go.
    assert _kept_except(raw, out, [2, 21, 23, 24])
    assert len([ln for ln in lines if ln.strip()]) == 10


def test_strip_boilerplate_seed_001_header() -> None:
    raw = seed("001")
    out = strip_boilerplate(raw)
    assert out.split("\n")[0].startswith("التقى الرئيس الروسي")
    assert "date 2025-10-09" not in out
    assert [ln for ln in raw.split("\n")[1:] if ln.strip()] == [
        ln for ln in out.split("\n") if ln.strip()
    ]


def test_strip_boilerplate_seed_003_ticker_and_nav() -> None:
    raw = seed("003")
    out = strip_boilerplate(raw)
    lines = [ln for ln in out.split("\n") if ln.strip()]
    assert lines[0] == "واکنش روسیه به عملیات نظامی جمهوری آذربایجان"
    assert "آتشنشانی واشنگتن" not in out
    assert "کد خبر" not in out
    assert lines[-1].startswith("پس از آن وزارت خارجه جمهوری آذربایجان")
    for nav in ("ارسال نظر", "پرطرفدارترین اخبار", "آخرین اخبار"):
        assert nav not in lines
    # Ticker, date line, news id and three navigation labels go; every paragraph stays.
    assert _kept_except(raw, out, [0, 5, 6, 46, 47, 48])
    assert len(lines) == 12  # title, lead and ten paragraphs


@pytest.mark.parametrize("prefix", ["002", "004"])
def test_strip_boilerplate_leaves_clean_seeds_alone(prefix: str) -> None:
    raw = seed(prefix)
    assert strip_boilerplate(raw) == raw


def test_strip_boilerplate_generic_rules() -> None:
    story = (
        "The minister said the talks would resume next week in Geneva.\n"
        "Read more: Ten things you did not know about Geneva\n"
        "He added that the copyright dispute was not on the agenda.\n"
        "اقرأ أيضا: عنوان خبر آخر لا علاقة له\n"
        "برچسب‌ها: ژنو، مذاکرات\n"
        "1,234\n"
        "© 2025 Example News. All rights reserved."
    )
    assert strip_boilerplate(story) == (
        "The minister said the talks would resume next week in Geneva.\n"
        "He added that the copyright dispute was not on the agenda."
    )


def test_strip_boilerplate_keeps_plain_text_and_single_headlines() -> None:
    text = (
        "A shark attacked and injured a 13-year-old boy Saturday, officials said.\n"
        "The attack occurred just before 7 a.m. near Beacon's Beach in Encinitas.\n"
        "I got bit!"
    )
    assert strip_boilerplate(text) == text
    headline = "بريطانيا غير مسؤولة عن قتل مدنيين بالموصل"
    assert strip_boilerplate(headline) == headline


# ------------------------------------------------------------------------------- split_title


def test_split_title_seed_003() -> None:
    title, body = split_title(seed("003"))
    assert title == "واکنش روسیه به عملیات نظامی جمهوری آذربایجان"
    assert body.startswith("سخنگوی وزارت خارجه روسیه تصریح کرد")


def test_split_title_seed_000() -> None:
    title, body = split_title(seed("000"))
    assert title.startswith("خبر مهم سخنگوی کرملین")
    assert body.startswith("سخنگوی کرملین امروز (یکشنبه) اعلام کرد")
    assert "219" not in body.split("\n")


def test_split_title_seed_002_skips_leading_blank_lines() -> None:
    title, _ = split_title(seed("002"))
    assert title == "گفتگوی پوتین و علی اف درباره تجارت و همکاریهای اقتصادی"


def test_split_title_long_first_line_uses_first_sentence() -> None:
    first = "The first sentence is the lead of the story. " + "Then many more words follow " * 8
    text = first + "\n\nSecond paragraph."
    title, body = split_title(text)
    assert title == "The first sentence is the lead of the story."
    assert body == text.strip()


def test_split_title_long_line_without_sentence_end_is_cut() -> None:
    words = [f"w{i}" for i in range(40)]
    title, body = split_title(" ".join(words))
    assert title == " ".join(words[:20]) + "…"
    assert body == " ".join(words)


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_strip_boilerplate_is_idempotent(prefix: str) -> None:
    # The pipeline strips, then split_title strips again: the second pass must change nothing.
    once = strip_boilerplate(seed(prefix))
    assert strip_boilerplate(once) == once
    assert split_title(once) == split_title(seed(prefix))
