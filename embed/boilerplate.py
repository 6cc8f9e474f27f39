"""Boilerplate and title: `strip_boilerplate`, `split_title`.

Kept apart because its phrase lists (navigation, tags, sharing, footers) grow with every outlet
scraped; `split_title` is here because it takes the title from the stripped text.
"""

from __future__ import annotations

import re

from embed.chars import (
    _SENTENCE_END,
    _WS,
    _phrase_regex,
    _ticker_index,
    _words,
    normalize,
    normalize_line,
)
from embed.dates import _is_metadata_line

# --------------------------------------------------------------------------------------------
# Boilerplate
# --------------------------------------------------------------------------------------------

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

_LETTERS_RE = re.compile(r"[^\W\d_]")


def _is_noise_line(line: str, *, first: bool = False) -> bool:
    """Lines that are never part of a story, wherever they are."""
    norm = normalize_line(line)
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
        if _FOOTER_MARKERS.search(normalize_line(line)):
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
