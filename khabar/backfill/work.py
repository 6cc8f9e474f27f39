"""A backfill's artefacts: one folder per set of inputs, one file per finished piece.

A piece is written to a temporary name and renamed into place, so a file that exists is
finished (its completion marker); a killed run leaves at most a temporary file, and the
next run with the same inputs continues from the finished pieces. Everything is JSON or
.npy read with allow_pickle=False.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from embed.encoder import encoding_tag
from khabar.sources import expand


class WorkError(RuntimeError):
    """The inputs cannot be backfilled as given; the message says why."""


def files(paths: tuple[str, ...] | list[str]) -> list[Path]:
    """The input files in the order given (folders sorted, as ingest reads them)."""
    out: list[Path] = []
    for p in expand(paths):
        if p == "-":
            raise WorkError("backfill reads files, not stdin: use `khabar nightly -` for that")
        assert isinstance(p, Path)
        out.append(p)
    return out


class Work:
    """The artefact folder of one backfill: <home>/backfill/<digest of inputs and model>."""

    def __init__(self, home: Path, inputs: list[Path], model_name: str):
        ident = [model_name, encoding_tag()]
        for p in inputs:
            st = p.stat() if p.exists() else None
            ident.append([str(p.resolve()), st.st_size if st else -1, st.st_mtime_ns if st else -1])
        digest = hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:16]
        self.root = Path(home) / "backfill" / digest
        for sub in ("read", "embed", "candidates"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.inputs = inputs

    def shard(self, i: int) -> Path:
        return self.root / "read" / f"{i:06d}.jsonl"

    def candidates(self, day: int) -> Path:
        return self.root / "candidates" / f"{day}.json"

    def embedded(self) -> list[Path]:
        return sorted((self.root / "embed").glob("*.npy"))

    def write_text(self, path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def write_json(self, path: Path, obj: Any) -> None:
        self.write_text(path, json.dumps(obj, ensure_ascii=False))

    def write_vectors(self, name: str, keys: list[str], vectors: np.ndarray) -> None:
        """The keys first, then the vectors: the .npy is the marker that both are there."""
        base = self.root / "embed" / name
        self.write_json(base.with_suffix(".keys.json"), keys)
        tmp = base.with_suffix(".npy.tmp")
        with tmp.open("wb") as fh:
            np.save(fh, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, base.with_suffix(".npy"))

    def read_vectors(self, npy: Path) -> tuple[list[str], np.ndarray]:
        keys = json.loads(npy.with_suffix(".keys.json").read_text(encoding="utf-8"))
        return keys, np.load(npy, allow_pickle=False)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        try:
            self.root.parent.rmdir()
        except OSError:
            pass
