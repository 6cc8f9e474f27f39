"""From a validated input record to the story as khabar keeps it.

Cleaning happens once, here: boilerplate off, hard line wraps joined, language and date
found where the input has none. The hashes decide what later steps may skip: `input_hash`
(nothing changed), `content_hash` (an exact copy of another story's text) and `embed_key`
(this model has already embedded this exact input).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from embed import text as textlib
from embed.dates import infer_date
from embed.encoder import encoding_tag
from khabar.sources import Record


def sha256(s: str) -> str:
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def input_hash(rec: Record) -> str:
    fields = {
        "text": rec.text,
        "title": rec.title,
        "lang": rec.lang,
        "outlet": rec.outlet,
        "url": rec.url,
        "published_at": rec.published_at,
        "metadata": rec.metadata,
    }
    return sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str))


def model_input(title: str, body: str) -> str:
    """What the encoder sees: the headline, then the story."""
    if body.startswith(title):
        return body
    return f"{title}\n{body}" if title else body


BODY_DATE_YEARS = 5  # an older date found only in the body is history, not publication


def find_date(rec: Record) -> tuple[str | None, str | None]:
    """Publication date and where it came from: the input's field, the date line at the head
    of the text, the latest date the body mentions (not after the file date or today, and
    not more than five years before it), else the file's date."""
    if rec.published_at:
        return rec.published_at, "metadata"
    found = textlib.extract_date(rec.text)
    if found is not None:
        return found.isoformat(), "text"
    latest = date.fromisoformat(rec.file_date) if rec.file_date else date.today()
    body = infer_date(rec.text, not_after=latest)
    if body is not None and (latest - body).days <= 365 * BODY_DATE_YEARS:
        return body.isoformat(), "text-body"
    if rec.file_date:
        return rec.file_date, "file"
    return None, None


def prepare(rec: Record, model_name: str) -> dict[str, Any]:
    """The stored fields of a story (without vid, timestamps or cluster results)."""
    stripped = textlib.strip_boilerplate(rec.text)
    if rec.title:
        title, body = rec.title, stripped
    else:
        title, body = textlib.split_title(stripped)
    title = textlib.clean_for_model(title).replace("\n", " ").strip()
    body = textlib.clean_for_model(body)
    if not body.strip():
        body = title

    lang = rec.lang or textlib.detect_language(f"{title}\n{body}")
    published_at, date_source = find_date(rec)

    mi = model_input(title, body)
    return {
        "id": rec.id,
        "outlet": rec.outlet,
        "url": rec.url,
        "lang": lang,
        "title": title,
        "text": body,
        "raw_text": rec.text,
        "content_hash": sha256(textlib.normalize(body)),
        "input_hash": input_hash(rec),
        "embed_key": sha256(f"{model_name}\0{encoding_tag()}\0{mi}"),
        "published_at": published_at,
        "date_source": date_source,
        "source": rec.source,
        "metadata": rec.metadata,
        "_model_input": mi,
    }
