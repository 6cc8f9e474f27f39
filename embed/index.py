"""The FAISS index: corrected story vectors under stable int64 ids.

The database is the source of truth (it keeps every raw vector); this index is a derived,
rebuildable copy for fast search. It records the language means it was built with, so queries
are corrected exactly like the vectors inside it, and a `generation` that the database also
records: a mismatch means the index is behind (a crash between the two writes) and must be
rebuilt, never silently trusted.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

INDEX_FILE = "index.faiss"
MAGIC = b"KHABARIX1"


class IndexError_(RuntimeError):
    """The index file is missing, unreadable or out of step; the message says the fix."""


class VectorIndex:
    """Inner-product search over L2-normalised vectors (so scores are cosines)."""

    def __init__(self, dimension: int, means: dict[str, list[float]] | None = None):
        import faiss

        self.dimension = dimension
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.means: dict[str, np.ndarray] = {
            k: np.asarray(v, dtype=np.float32) for k, v in (means or {}).items()
        }
        self.generation = 0

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def mean_for(self, lang: str) -> np.ndarray:
        return self.means.get(lang, self.means.get("*", np.zeros(self.dimension, np.float32)))

    def correct(self, langs: list[str], vectors: np.ndarray) -> np.ndarray:
        """Apply this index's language correction to raw vectors (for adding or querying)."""
        from embed.encoder import l2_normalize

        if not len(langs):
            return np.zeros((0, self.dimension), dtype=np.float32)
        shift = np.stack([self.mean_for(lang) for lang in langs])
        return l2_normalize(np.asarray(vectors, dtype=np.float32) - shift)

    def add(self, ids: Iterable[int], vectors: np.ndarray) -> None:
        ids = np.asarray(list(ids), dtype=np.int64)
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    def remove(self, ids: Iterable[int]) -> int:
        import faiss

        ids = np.asarray(list(ids), dtype=np.int64)
        if not len(ids):
            return 0
        return int(self.index.remove_ids(faiss.IDSelectorBatch(ids)))

    def search(
        self, vectors: np.ndarray, k: int, allowed: Iterable[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query row; `allowed` restricts to those ids (time windows)."""
        import faiss

        q = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        k = max(1, min(k, len(self)))
        if allowed is None:
            scores, ids = self.index.search(q, k)
        else:
            sel = faiss.IDSelectorBatch(np.asarray(list(allowed), dtype=np.int64))
            scores, ids = self.index.search(q, k, params=faiss.SearchParameters(sel=sel))
        return scores, ids

    def range_search(
        self, vectors: np.ndarray, threshold: float
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """All (scores, ids) at or above `threshold`, per query row."""
        q = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        lims, scores, ids = self.index.range_search(q, float(threshold))
        return [(scores[lims[i] : lims[i + 1]], ids[lims[i] : lims[i + 1]]) for i in range(len(q))]

    # --- persistence ---------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write index and metadata as one file, atomically (temp file, fsync, rename)."""
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        meta = json.dumps(
            {
                "dimension": self.dimension,
                "count": len(self),
                "generation": self.generation,
                "means": {k: v.tolist() for k, v in self.means.items()},
            }
        ).encode("utf-8")
        body = faiss.serialize_index(self.index).tobytes()
        for stale in folder.glob(".index-*"):  # left by a writer killed mid-save
            stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".index-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(MAGIC + struct.pack("<Q", len(meta)) + meta + body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, folder / INDEX_FILE)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, folder: Path) -> VectorIndex:
        import faiss

        path = folder / INDEX_FILE
        if not path.is_file():
            raise IndexError_(
                f"no index at {path}: run `khabar reindex` to build it from the database"
            )
        try:
            data = path.read_bytes()
            if data[: len(MAGIC)] != MAGIC:
                raise ValueError("not a khabar index file")
            (n,) = struct.unpack_from("<Q", data, len(MAGIC))
            start = len(MAGIC) + 8
            meta = json.loads(data[start : start + n].decode("utf-8"))
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8, offset=start + n))
            if not isinstance(index, faiss.IndexIDMap2):
                raise ValueError(f"unexpected index type {type(index).__name__}")
            if index.ntotal != meta["count"] or index.d != meta["dimension"]:
                raise ValueError("vector count or dimension differs from the header")
        except Exception as exc:  # faiss raises RuntimeError, the header ValueError/KeyError
            raise IndexError_(
                f"index at {path} is unreadable ({exc}): run `khabar reindex` to rebuild it "
                "from the database"
            ) from exc
        obj = cls(int(meta["dimension"]), meta.get("means"))
        obj.index = index
        obj.generation = int(meta.get("generation", 0))
        return obj
