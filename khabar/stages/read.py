"""Stage (a): files to prepared stories (validated, cleaned, hashed), or rejections.

A prepared story is a plain dict (khabar/prepare.py) and travels as one JSON line, so a
backfill can run this stage per file on any worker and keep its output as an artefact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from khabar.prepare import prepare
from khabar.sources import Rejection, read_paths

Prepared = dict[str, Any] | Rejection


def prepared(paths: Iterable[str], model_name: str) -> Iterator[Prepared]:
    """Each record of the files, prepared, in file order; a bad record as its Rejection."""
    for item in read_paths(paths):
        yield item if isinstance(item, Rejection) else prepare(item, model_name)


def shard_text(path: str, model_name: str, shown: str | None = None) -> str:
    """One file prepared, as a shard's JSON lines. `shown`: the path as the user gave it,
    which the stories' `file:line` sources keep when `path` is its absolute form (a Ray
    worker runs in a directory of its own)."""
    lines = []
    for item in prepared([path], model_name):
        row = (
            {"_rejected": {"source": item.source, "reason": item.reason}}
            if isinstance(item, Rejection)
            else item
        )
        target = row.get("_rejected", row)
        if shown is not None and str(target.get("source", "")).startswith(path + ":"):
            target["source"] = shown + target["source"][len(path) :]
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    return "".join(lines)


def read_shard(path: Path) -> Iterator[Prepared]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            bad = row.get("_rejected")
            yield Rejection(bad["source"], bad["reason"]) if bad else row
