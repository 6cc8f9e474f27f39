"""Reading scraped files: JSONL, CSV, plain text, folders of them, or stdin.

Every input row becomes either a `Record` or a `Rejection` naming its file and line, so one
bad row never stops the good ones: whatever bytes a file holds, reading it never raises.
Reading is lazy: a large file streams through.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

KNOWN_FIELDS = ("id", "text", "title", "lang", "outlet", "url", "published_at")
MAX_TEXT_BYTES = 1_000_000  # a story larger than this is a scraping accident, not news
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".txt": "txt"}
# A CSV field may hold a whole story: well over csv's default 131,072 characters, and beyond
# the cap too, so that an oversized story is rejected by the cap's own message.
CSV_FIELD_LIMIT = 4 * MAX_TEXT_BYTES
_NOT_VISIBLE = ("Cc", "Cf", "Cs", "Co", "Zs", "Zl", "Zp")  # control, format, space categories
_TATWEEL = "\u0640"
MAX_NESTING = 64  # levels of JSON arrays and objects in a row; news metadata needs a few


@dataclass
class Record:
    id: str
    text: str
    source: str  # file:line
    title: str | None = None
    lang: str | None = None
    outlet: str | None = None
    url: str | None = None
    published_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    is_plain_text: bool = False  # a .txt story: title and date come from the text
    file_date: str | None = None  # a .txt file's modification date, the last resort


@dataclass
class Rejection:
    source: str
    reason: str


Item = Record | Rejection


def normalise_date(value: str) -> str:
    """ISO 8601 date or datetime, kept as a sortable ISO string (datetimes in UTC)."""
    value = value.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value).isoformat()
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"published_at {value!r} is not an ISO 8601 date or datetime") from exc
    if dt.tzinfo is not None:
        try:  # 0001-01-01T00:00+01:00 is valid ISO 8601, but before year 1 in UTC
            dt = dt.astimezone(UTC).replace(tzinfo=None)
        except OverflowError as exc:
            raise ValueError(f"published_at {value!r} is out of range in UTC") from exc
    return dt.isoformat(timespec="seconds")


def _visible(text: str) -> bool:
    """Whether the text has a character that is not a space, control, format mark or tatweel
    (a text of BOMs, bidi marks or NULs is empty once cleaned)."""
    return any(ch != _TATWEEL and unicodedata.category(ch) not in _NOT_VISIBLE for ch in text)


def _encodable(value: Any) -> str | None:
    """None if the parsed JSON value can be stored; else why not. JSON's \\u escapes can
    encode lone surrogates (not Unicode text), and nesting as deep as json.loads allows makes
    json.dumps, which every stored row goes through, hit the recursion limit."""
    stack = [(value, 1)]
    while stack:  # iterative: the depth is what is being checked
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_NESTING:
                return f"nested deeper than {MAX_NESTING} levels"
            stack.extend(
                (v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)
            )
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "a \\u escape encodes a lone surrogate, which is not Unicode text"
    return None


def to_record(row: dict[str, Any], source: str) -> Item:
    """Validate one row against the input contract."""
    rid = row.get("id")
    if isinstance(rid, int | float) and not isinstance(rid, bool):
        rid = str(rid)
    if not isinstance(rid, str) or not rid.strip():
        return Rejection(source, "missing or empty `id`")
    text = row.get("text")
    if not isinstance(text, str):
        return Rejection(source, f"story {rid!r}: missing `text`")
    if not text.strip():
        return Rejection(source, f"story {rid!r}: empty `text`")
    if not _visible(text):
        return Rejection(
            source, f"story {rid!r}: empty `text` (only invisible or control characters)"
        )
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        return Rejection(
            source, f"story {rid!r}: text is {size:,} bytes, over the {MAX_TEXT_BYTES:,}-byte cap"
        )
    values: dict[str, Any] = {}
    for key in ("title", "lang", "outlet", "url", "published_at"):
        v = row.get(key)
        if v is None or (isinstance(v, str) and not v.strip()):
            continue
        if not isinstance(v, str):
            return Rejection(source, f"story {rid!r}: `{key}` must be a string")
        values[key] = v.strip()
    if "published_at" in values:
        try:
            values["published_at"] = normalise_date(values["published_at"])
        except ValueError as exc:
            return Rejection(source, f"story {rid!r}: {exc}")
    if "lang" in values:
        values["lang"] = values["lang"].lower().replace("_", "-").split("-")[0]
    meta = {k: v for k, v in row.items() if k not in KNOWN_FIELDS}
    return Record(id=rid.strip(), text=text, source=source, metadata=meta, **values)


def read_jsonl(stream: Iterable[bytes], name: str) -> Iterator[Item]:
    for lineno, raw in enumerate(stream, 1):
        source = f"{name}:{lineno}"
        if lineno == 1 and raw.startswith(codecs.BOM_UTF8):  # as the CSV and text readers do
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Rejection(source, f"invalid UTF-8 at byte {exc.start}")
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Rejection(source, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        except RecursionError:
            yield Rejection(source, f"invalid JSON: nested deeper than {MAX_NESTING} levels")
            continue
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            yield Rejection(source, f"invalid JSON: {str(exc).split(':')[0]}")
            continue
        if not isinstance(row, dict):
            yield Rejection(source, "a JSONL line must be a JSON object")
            continue
        problem = _encodable(row)
        if problem:
            yield Rejection(source, f"invalid JSON: {problem}")
            continue
        yield to_record(row, source)


def _bad_utf8(cells: Iterable[str]) -> bool:
    """Cells decoded with surrogateescape hold U+DC80..U+DCFF where the bytes were not UTF-8."""
    return any("\udc80" <= ch <= "\udcff" for cell in cells for ch in cell)


def read_csv(path: Path) -> Iterator[Item]:
    """Rows by the line they start on; an invalid byte or a malformed row rejects its row only."""
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    text = data.decode("utf-8", errors="surrogateescape")
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        yield Rejection(f"{path}:1", f"malformed CSV header: {exc}")
        return
    if _bad_utf8(header):
        yield Rejection(f"{path}:1", "invalid UTF-8 in the header; save the CSV as UTF-8")
        return
    missing = [c for c in ("id", "text") if c not in header]
    if missing:
        yield Rejection(f"{path}:1", f"CSV header lacks the column(s) {', '.join(missing)}")
        return
    while True:
        source = f"{path}:{reader.line_num + 1}"  # the line this row starts on
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a quote never closed, text after a closing quote, ...
            yield Rejection(source, f"malformed CSV row: {exc}")
            continue
        if not cells:  # a blank line
            continue
        if len(cells) > len(header):
            yield Rejection(source, "row has more cells than the header")
            continue
        if _bad_utf8(cells):
            yield Rejection(source, "invalid UTF-8; save the CSV as UTF-8")
            continue
        row = {k: v for k, v in zip(header, cells, strict=False) if v != ""}
        yield to_record(row, source)


def read_txt(path: Path) -> Iterator[Item]:
    source = f"{path}:1"
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Rejection(source, f"invalid UTF-8 at byte {exc.start}")
        return
    if "\0" in text:
        yield Rejection(source, "binary data, not a text story")
        return
    item = to_record({"id": path.stem, "text": text}, source)
    if isinstance(item, Record):
        item.is_plain_text = True
        item.file_date = datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()
    yield item


def expand(paths: Iterable[str]) -> Iterator[Path | str]:
    """Files in the order given; folders recursively, sorted; `-` stays as stdin."""
    for p in paths:
        if p == "-":
            yield p
            continue
        path = Path(p)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not any(part.startswith(".") for part in child.parts[-1:]):
                    yield child
        else:
            yield path


def read_paths(paths: Iterable[str]) -> Iterator[Item]:
    for path in expand(paths):
        if path == "-":
            yield from read_jsonl(sys.stdin.buffer, "<stdin>")
            continue
        assert isinstance(path, Path)
        if not path.exists():
            yield Rejection(f"{path}:0", "no such file or folder")
            continue
        kind = SUFFIXES.get(path.suffix.lower())
        if kind is None:
            yield Rejection(
                f"{path}:0", "not a story file (expected .jsonl, .ndjson, .csv or .txt)"
            )
            continue
        lines = 0  # the file's items read so far, to name where an I/O error struck
        try:
            if kind == "jsonl":
                with path.open("rb") as fh:
                    for item in read_jsonl(fh, str(path)):
                        lines = int(item.source.rsplit(":", 1)[1])
                        yield item
            elif kind == "csv":
                yield from read_csv(path)
            else:
                yield from read_txt(path)
        except OSError as exc:  # unreadable: permissions, a vanished file, an I/O error
            yield Rejection(f"{path}:{lines + 1}", f"cannot read the file: {exc.strerror or exc}")
