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


def write_shard(path: str, model_name: str, out: Path) -> int:
    """Prepare one file into a JSON-lines artefact; returns how many lines it holds."""
    n = 0
    with out.open("w", encoding="utf-8") as fh:
        for item in prepared([path], model_name):
            row = (
                {"_rejected": {"source": item.source, "reason": item.reason}}
                if isinstance(item, Rejection)
                else item
            )
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_shard(path: Path) -> Iterator[Prepared]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            bad = row.get("_rejected")
            yield Rejection(bad["source"], bad["reason"]) if bad else row
