"""Hostile input: broken files through the real nightly job, then properties of the readers and
text functions under arbitrary input (hypothesis).

The nightly run is the console script in a subprocess, on one folder that holds a bit of every
kind of bad input next to good rows: it must exit 1, name each rejection on stderr as
`path:line: rejected: reason`, print no traceback and store every good row.
"""

from __future__ import annotations

import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

# Hypothesis keeps caches in ./.hypothesis by default; keep the working tree clean.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "khabar-hypothesis")
)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from embed.chars import _DIACRITICS
from embed.text import clean_for_model, detect_language, normalize, split_title, strip_boilerplate
from khabar.prepare import prepare
from khabar.sources import (
    MAX_TEXT_BYTES,
    Record,
    Rejection,
    normalise_date,
    read_jsonl,
    read_paths,
)
from khabar.store import DB_FILE

EXE = Path(sys.executable).with_name("khabar")

FA_1 = "رئیس جمهور ایران امروز به مسکو سفر کرد و با ولادیمیر پوتین درباره تجارت گفت‌وگو کرد."
FA_2 = "بانک مرکزی ایران نرخ بهره را برای مهار تورم دو درصد افزایش داد."
AR_1 = "وصل الرئيس الإيراني اليوم إلى موسكو وبحث مع فلاديمير بوتين التجارة بين البلدين."
EN_1 = "The Iranian president arrived in Moscow today and discussed trade with Vladimir Putin."
DAY = "2025-10-01"

# --- one folder of hostile files ------------------------------------------------------------


def _json(row: object) -> bytes:
    return json.dumps(row, ensure_ascii=False).encode("utf-8")


def build_folder(folder: Path) -> tuple[list[tuple[str, int, str]], set[str]]:
    """Write the hostile folder. Returns the expected rejections as (file name, line, a
    recognisable part of the reason) and the ids of the good stories."""
    folder.mkdir()
    jsonl = folder / "a_stories.jsonl"
    huge = "خبر فوری " * 300_000  # 5.1 MB of UTF-8, over the 1,000,000-byte cap
    lines: list[tuple[bytes, str | None]] = [  # (line, expected rejection reason or None)
        (_json({"id": "h-fa-1", "text": FA_1, "published_at": DAY}), None),
        (b'{"id": "broken", "text": "no closing quote', "invalid JSON"),
        (_json({"title": "بدون شناسه", "text": FA_2}), "missing or empty `id`"),
        (_json({"id": "h-ar-1", "text": AR_1, "lang": "ar", "published_at": DAY}), None),
        (_json({"id": "notext", "title": "بدون متن"}), "missing `text`"),
        (_json({"id": "empty", "text": "   \n\t "}), "empty `text`"),
        (b'["a", "JSON", "array"]', "must be a JSON object"),
        (b"", None),  # a blank line: skipped, but it counts for the line numbers
        (b'{"id": "badutf", "text": "bytes \xff\xfe\xc3 here"}', "invalid UTF-8"),
        (_json({"id": "huge", "text": huge}), "over the 1,000,000-byte cap"),
        (_json({"id": "h-en-1", "text": EN_1, "outlet": "wire", "published_at": DAY}), None),
        (_json({"id": "h-fa-1", "text": FA_2}), "already came with a different text"),
        (b'{"id": "lone", "text": "half a pair \\ud83d here"}', "lone surrogate"),
        (b'{"id": "deep", "text": "x", "m": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested deeper"),
        (b'{"id": 1' + b"0" * 5000 + b', "text": "x"}', "4300 digits"),
        (_json({"id": "invisible", "text": "\ufeff\u200f\u200c\u0640\x00 "}), "invisible"),
        (_json({"id": "bc", "text": FA_2, "published_at": "0001-01-01T00:00+01:00"}), "range"),
        (_json({"id": "baddate", "text": FA_2, "published_at": "2025-13-45"}), "ISO 8601"),
        (_json({"id": "numtitle", "text": FA_2, "title": 5}), "`title` must be a string"),
        (_json({"id": "h-fa-2", "text": FA_2, "published_at": "2025-10-02T08:30:00+03:30"}), None),
    ]
    jsonl.write_bytes(b"\n".join(line for line, _ in lines))  # no newline after the last
    expected = [(jsonl.name, i, why) for i, (_, why) in enumerate(lines, 1) if why]
    good = {"h-fa-1", "h-ar-1", "h-en-1", "h-fa-2"}

    # A JSONL saved with a byte-order mark (Windows tools write one): the row is good.
    (folder / "a_bom.jsonl").write_bytes(b"\xef\xbb\xbf" + _json({"id": "h-bom", "text": EN_1}))
    good.add("h-bom")

    rng = random.Random(5)
    (folder / "b_random.txt").write_bytes(rng.randbytes(4096))
    expected.append(("b_random.txt", 1, "UTF-8"))
    (folder / "c_random.bin").write_bytes(rng.randbytes(4096))
    expected.append(("c_random.bin", 0, "not a story file"))

    (folder / "d_notext.csv").write_text("id,title,body\nx1,عنوان,متن\n", encoding="utf-8")
    expected.append(("d_notext.csv", 1, "lacks the column(s) text"))

    padded = "A story a scraper padded. " + " " * 150_000 + "It ends here."  # > csv's 131,072
    csv_lines = [
        b"id,text,title",
        b"c1," + FA_1.encode() + b",\xd8\xb3\xd9\x81\xd8\xb1",  # line 2
        b'c2,"' + AR_1.encode() + b"\n" + AR_1.encode() + b'",',  # lines 3-4: one quoted cell
        b"c3," + FA_2.encode() + b",title,one cell too many",  # line 5
        b"c4," + EN_1.encode() + b",",  # line 6
        b"",  # line 7: blank
        b"c5,bad \xff byte in a CSV row,",  # line 8
        b'c6,"' + padded.encode() + b'",',  # line 9
        b'c7,"a quote that is never closed,\nc8,swallowed,',  # lines 10-11
    ]
    (folder / "e_mixed.csv").write_bytes(b"\n".join(csv_lines) + b"\n")
    expected += [
        ("e_mixed.csv", 5, "more cells than the header"),
        ("e_mixed.csv", 8, "invalid UTF-8"),
        ("e_mixed.csv", 10, "malformed CSV row"),
    ]
    good |= {"c1", "c2", "c4", "c6"}

    (folder / "f_empty.jsonl").write_bytes(b"")  # nothing in it: nothing stored, nothing wrong
    (folder / "g_empty.txt").write_bytes(b"")
    expected.append(("g_empty.txt", 1, "empty `text`"))
    (folder / "h_story.txt").write_text(f"سفر به مسکو\n\n{FA_1}\n", encoding="utf-8")
    good.add("h_story")
    return expected, good


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory):
    """(folder, expected rejections, good ids, the nightly process, its home)."""
    root = tmp_path_factory.mktemp("hostile")
    folder = root / "in"
    expected, good = build_folder(folder)
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("KHABAR_HOME", "KHABAR_MODEL")}
    proc = subprocess.run(
        [str(EXE), "--home", str(home), "nightly", str(folder)],
        capture_output=True,
        env=env,
        timeout=600,
    )
    return folder, expected, good, proc, home


def test_nightly_on_hostile_folder_exits_1_without_traceback(hostile) -> None:
    folder, expected, good, proc, _ = hostile
    err = proc.stderr.decode("utf-8")
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert f"new {len(good)}," in err, err
    assert f"rejected {len(expected)};" in err, err


def test_every_rejection_is_named_with_file_and_line(hostile) -> None:
    folder, expected, _, proc, _ = hostile
    err = proc.stderr.decode("utf-8")
    named = [line for line in err.splitlines() if ": rejected: " in line]
    for name, line, why in expected:
        prefix = f"{folder / name}:{line}: rejected: "
        hits = [x for x in named if x.startswith(prefix)]
        assert len(hits) == 1, (prefix, named)
        assert why in hits[0], hits[0]
    assert len(named) == len(expected), named
    dup = next(x for x in named if "already came" in x)
    assert f"{folder / 'a_stories.jsonl'}:1" in dup.split(": rejected: ")[1]  # names the kept


def test_every_good_row_is_stored(hostile) -> None:
    folder, _, good, _, home = hostile
    env = {k: v for k, v in os.environ.items() if k not in ("KHABAR_HOME", "KHABAR_MODEL")}
    export = subprocess.run(
        [str(EXE), "--home", str(home), "export"], capture_output=True, env=env, timeout=120
    )
    assert export.returncode == 0, export.stderr.decode()
    rows = [json.loads(line) for line in export.stdout.decode().splitlines()]
    assert {r["id"] for r in rows} == good
    with sqlite3.connect(home / DB_FILE) as db:
        stored = dict(db.execute("SELECT id, raw_text FROM stories"))
        sources = dict(db.execute("SELECT id, source FROM stories"))
    db.close()
    assert len(stored) == len(good)
    assert stored["h-fa-1"] == FA_1  # the first text under a repeated id is the one kept
    assert stored["c2"] == f"{AR_1}\n{AR_1}"
    assert len(stored["c6"]) > 150_000
    assert sources["c4"] == f"{folder / 'e_mixed.csv'}:6"
    assert sources["h-fa-2"] == f"{folder / 'a_stories.jsonl'}:20"
    by_id = {r["id"]: r for r in rows}
    assert by_id["h-fa-2"]["published_at"] == "2025-10-02T05:00:00"  # +03:30 to UTC
    assert by_id["h-ar-1"]["lang"] == "ar"


def test_unreadable_files_are_rejections(tmp_path: Path, monkeypatch) -> None:
    """A file the job may not read, or whose disk fails mid-way, is named like a bad row; the
    lines read before the failure count."""
    csv_path = tmp_path / "locked.csv"
    csv_path.write_text("id,text\na,b\n", encoding="utf-8")
    jsonl_path = tmp_path / "failing.jsonl"
    jsonl_path.write_text("", encoding="utf-8")

    def denied(self: Path, *args: object, **kwargs: object) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    class FailingDisk(io.BytesIO):
        def __iter__(self):
            yield _json({"id": "ok", "text": EN_1})
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(Path, "read_bytes", denied)
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: FailingDisk())
    items = list(read_paths([str(csv_path), str(jsonl_path)]))
    assert [type(i).__name__ for i in items] == ["Rejection", "Record", "Rejection"]
    assert items[0] == Rejection(f"{csv_path}:1", "cannot read the file: Permission denied")
    assert items[1].source == f"{jsonl_path}:1"
    assert items[2] == Rejection(f"{jsonl_path}:2", "cannot read the file: Input/output error")


# --- properties -----------------------------------------------------------------------------

PROPS = settings(
    max_examples=200,
    deadline=None,
    database=None,  # no .hypothesis folder in the tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Characters the text functions treat specially, so that the generator meets them often.
SPECIAL = list(
    "علیكيىئأإآٱةۀھهکگپچژ"  # Arabic-script letters and their variants
    "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0670\u0654\u0655"  # diacritics
    "\u0640\u200c\u200d\u200e\u200f\u202b\u202c\u2066\u2069\ufeff\u00ad\u2060"  # invisibles
    "۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩0123456789"  # digits
    "\ufefb\ufdf2\ufdfa\ufc5e\ufe8e\uff11"  # presentation forms, fullwidth 1
    "\n\r\t \u00a0\u2028\u0085،؛؟«».!?:"  # breaks, spaces, punctuation
    "Ωßİıé\u0301"  # casefold and NFKC traps
)
texts = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(SPECIAL)), max_size=300
)
ARABIC_DIGITS = {chr(c) for c in [*range(0x0660, 0x066A), *range(0x06F0, 0x06FA)]}


@PROPS
@given(texts)
def test_normalize_is_idempotent_and_clean(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert not set(once) & set(_DIACRITICS), once
    assert "\u0640" not in once and "\u200c" not in once
    assert not set(once) & ARABIC_DIGITS  # Persian and Arabic-Indic digits become ASCII


@PROPS
@given(texts)
def test_text_cleaners_never_raise(text: str) -> None:
    assert isinstance(clean_for_model(text), str)
    assert isinstance(strip_boilerplate(text), str)
    title, body = split_title(text)
    assert isinstance(title, str) and isinstance(body, str)
    assert "\n" not in title
    assert len(title.splitlines()) <= 1
    assert isinstance(detect_language(text), str)


# JSONL lines: arbitrary bytes, arbitrary JSON, and rows close to the contract. JSON strings
# may hold lone surrogates (as \\u escapes), texts may be only invisible characters.
any_text = st.text(st.characters(exclude_categories=[]), max_size=20)
invisible = st.text(st.sampled_from("\ufeff\u200f\u200c\u0640\x00\x85\u00ad \n"), min_size=1)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
field_values = st.one_of(
    json_values,
    texts,
    invisible,
    st.dates().map(date.isoformat),
    st.datetimes().map(datetime.isoformat),
)
rows = st.fixed_dictionaries(
    {},
    optional={
        k: field_values for k in ("id", "text", "title", "lang", "outlet", "url", "published_at")
    },
)
lines = st.one_of(
    st.binary(max_size=200),
    rows.map(lambda r: json.dumps(r, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    rows.map(lambda r: json.dumps(r).encode("ascii")),  # surrogates as \u escapes
    json_values.map(lambda v: json.dumps(v).encode("ascii")),
    st.integers(1, 20_000).map(
        lambda n: b'{"id": "d", "text": "x", "m": %s%s}' % (b"[" * n, b"]" * n)
    ),  # nesting
    st.integers(1, 6000).map(lambda n: b'{"id": 1%s, "text": "x"}' % (b"0" * n)),  # big ints
    st.sampled_from([b"", b"  \t", b"\xef\xbb\xbf", b"\xef\xbb\xbf{}", b"[[[[", b"\r"]),
).map(lambda b: b.replace(b"\n", b" "))


def _blank(raw: bytes, lineno: int) -> bool:
    if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return not raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return False


@PROPS
@given(st.lists(lines, max_size=8))
def test_read_jsonl_one_item_per_non_blank_line(raw_lines: list[bytes]) -> None:
    stream = [line + b"\n" for line in raw_lines]
    items = list(read_jsonl(stream, "f.jsonl"))
    wanted = [i for i, raw in enumerate(stream, 1) if not _blank(raw, i)]
    assert [item.source for item in items] == [f"f.jsonl:{i}" for i in wanted]
    for item in items:
        assert isinstance(item, Record | Rejection)
        if isinstance(item, Rejection):
            assert item.reason
            continue
        assert item.id.strip() and item.text.strip()
        assert len(item.text.encode("utf-8")) <= MAX_TEXT_BYTES
        # Whatever was accepted can be stored as UTF-8 and prepared without an error.
        json.dumps(vars(item), ensure_ascii=False).encode("utf-8")
        if item.published_at:
            datetime.fromisoformat(item.published_at)
        assert prepare(item, "model")["_model_input"].strip()  # something left to embed


offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
dates = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789-T:+Z. ", max_size=30),
    st.dates().map(date.isoformat),
    st.datetimes().map(datetime.isoformat),
    st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
    st.datetimes(timezones=offsets).map(datetime.isoformat),
    # the ends of the range: 0001-01-01T00:30+01:00 is before year 1 in UTC
    st.datetimes(max_value=datetime(1, 1, 2), timezones=offsets).map(datetime.isoformat),
    st.datetimes(min_value=datetime(9999, 12, 30), timezones=offsets).map(datetime.isoformat),
)


@PROPS
@given(dates)
def test_normalise_date_returns_iso_or_raises_value_error(value: str) -> None:
    try:
        out = normalise_date(value)
    except ValueError:
        return
    assert len(out) in (10, 19), out  # YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, so they sort
    parsed = date.fromisoformat(out) if len(out) == 10 else datetime.fromisoformat(out)
    assert parsed.isoformat() == out
    assert normalise_date(out) == out
