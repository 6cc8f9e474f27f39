"""Reading scraped files: JSONL, CSV, plain text, folders of them, or stdin.

Every input row becomes either a `Record` or a `Rejection` naming its file and line, so one
bad row never stops the good ones. Reading is lazy: a large file streams through.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

KNOWN_FIELDS = ("id", "text", "title", "lang", "outlet", "url", "published_at")
MAX_TEXT_BYTES = 1_000_000  # a story larger than this is a scraping accident, not news
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".txt": "txt"}


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
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt.isoformat(timespec="seconds")


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
        if not isinstance(row, dict):
            yield Rejection(source, "a JSONL line must be a JSON object")
            continue
        yield to_record(row, source)


def read_csv(path: Path) -> Iterator[Item]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Rejection(f"{path}:1", f"invalid UTF-8 at byte {exc.start}; save the CSV as UTF-8")
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in ("id", "text") if c not in (reader.fieldnames or [])]
    if missing:
        yield Rejection(f"{path}:1", f"CSV header lacks the column(s) {', '.join(missing)}")
        return
    line = 1
    for row in reader:
        source = f"{path}:{line + 1}"
        line = reader.line_num
        if None in row:  # more cells than header columns
            yield Rejection(source, "row has more cells than the header")
            continue
        yield to_record({k: v for k, v in row.items() if v not in (None, "")}, source)


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
        elif kind == "jsonl":
            with path.open("rb") as fh:
                yield from read_jsonl(fh, str(path))
        elif kind == "csv":
            yield from read_csv(path)
        else:
            yield from read_txt(path)
