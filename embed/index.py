"""The FAISS index: corrected story vectors under stable int64 ids.

The database is the source of truth (it keeps every raw vector); this index is a derived,
rebuildable copy for fast search. It records the language means it was built with, so queries
are corrected exactly like the vectors inside it, and a `generation` that the database also
records: a mismatch means the index is behind (a crash between the two writes) and must be
rebuilt, never silently trusted.

Kind by size (scripts/bench_query.py measured both on this machine): up to `FLAT_MAX` vectors
an exact flat index; above, an inverted file (IVF, nlist = 4*sqrt(N), nprobe 32), whose
search reads only the probed lists. Readers map the file into memory instead of reading it,
so a CLI process at a million stories does not first read 1.5 GB: at 1M a flat index took
1.4-8.4 s to load and about 150 ms per search, the mapped IVF 0.002 s to load and 2.6 ms per
search at recall@10 1.0 on clustered synthetic vectors. The file is FAISS's own format
followed by a JSON trailer (generation, language means, kind), so FAISS can map it directly.
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
MAGIC = b"KHABARIX2"  # at the file's end, after the JSON trailer and its 8-byte length
FLAT_MAX = 50_000  # above this many vectors, an IVF index (see the module docstring)
NPROBE = 32
REBUILD_GROWTH = 4  # an IVF trained on N vectors is retrained once it holds 4N


def kind_for(count: int) -> str:
    return "flat" if count <= FLAT_MAX else "ivf"


class IndexError_(RuntimeError):
    """The index file is missing, unreadable or out of step; the message says the fix."""


class VectorIndex:
    """Inner-product search over L2-normalised vectors (so scores are cosines)."""

    def __init__(self, dimension: int, means: dict[str, list[float]] | None = None):
        import faiss

        self.dimension = dimension
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.kind = "flat"
        self.trained_on = 0  # vectors an IVF's centroids were trained on
        self.means: dict[str, np.ndarray] = {
            k: np.asarray(v, dtype=np.float32) for k, v in (means or {}).items()
        }
        self.generation = 0

    def fill(self, ids: np.ndarray, vectors: np.ndarray, kind: str | None = None) -> None:
        """Hold exactly these (corrected) vectors, in the kind of index that suits their
        number; `kind` forces one (scripts/bench_query.py measures both)."""
        import faiss

        kind = kind or kind_for(len(ids))
        if kind == "ivf":
            n = len(ids)
            nlist = int(4 * np.sqrt(n))
            rng = np.random.default_rng(0)
            sample = vectors[np.sort(rng.choice(n, min(n, 64 * nlist), replace=False))]
            quantizer = faiss.IndexFlatIP(self.dimension)
            ivf = faiss.IndexIVFFlat(quantizer, self.dimension, nlist, faiss.METRIC_INNER_PRODUCT)
            ivf.train(np.ascontiguousarray(sample, dtype=np.float32))
            ivf.nprobe = NPROBE
            self.index, self.trained_on = ivf, n
            self._quantizer = quantizer  # the IVF refers to it; keep it alive
        else:
            self.index, self.trained_on = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension)), 0
        self.kind = kind
        self.add(ids, vectors)

    def outgrown(self) -> bool:
        """True when another kind, or a retrained IVF, would now serve better."""
        n = len(self)
        if kind_for(n) != self.kind:
            return n > FLAT_MAX * 1.2 or n < FLAT_MAX * 0.8  # no flapping at the boundary
        return self.kind == "ivf" and n > REBUILD_GROWTH * self.trained_on

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
            if self.kind == "ivf":
                params = faiss.SearchParametersIVF(sel=sel, nprobe=NPROBE)
            else:
                params = faiss.SearchParameters(sel=sel)
            scores, ids = self.index.search(q, k, params=params)
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
        """Write the index and its trailer as one file, atomically (temp file, fsync, rename)."""
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        meta = json.dumps(
            {
                "dimension": self.dimension,
                "count": len(self),
                "generation": self.generation,
                "kind": self.kind,
                "trained_on": self.trained_on,
                "means": {k: v.tolist() for k, v in self.means.items()},
            }
        ).encode("utf-8")
        for stale in folder.glob(".index-*"):  # left by a writer killed mid-save
            stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".index-", dir=folder)
        try:
            os.close(fd)
            faiss.write_index(self.index, tmp)
            with open(tmp, "ab") as fh:
                fh.write(meta + struct.pack("<Q", len(meta)) + MAGIC)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, folder / INDEX_FILE)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, folder: Path, writable: bool = False) -> VectorIndex:
        """The saved index. Readers (`writable=False`) map an IVF's lists instead of reading
        them; a writer that will add or remove vectors reads the whole file."""
        import faiss

        path = folder / INDEX_FILE
        if not path.is_file():
            raise IndexError_(
                f"no index at {path}: run `khabar reindex` to build it from the database"
            )
        try:
            with open(path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                end = fh.tell()
                if end < len(MAGIC) + 8:
                    raise ValueError("too short to be a khabar index file")
                fh.seek(end - len(MAGIC) - 8)
                tail = fh.read(len(MAGIC) + 8)
                if tail[8:] != MAGIC:
                    raise ValueError("not a khabar index file (or one from an older version)")
                (n,) = struct.unpack("<Q", tail[:8])
                fh.seek(end - len(MAGIC) - 8 - n)
                meta = json.loads(fh.read(n).decode("utf-8"))
            flags = 0 if writable else faiss.IO_FLAG_MMAP
            index = faiss.read_index(str(path), flags)
            kind = meta.get("kind", "flat")
            expected = faiss.IndexIDMap2 if kind == "flat" else faiss.IndexIVFFlat
            if not isinstance(index, expected):
                raise ValueError(f"unexpected index type {type(index).__name__}")
            if index.ntotal != meta["count"] or index.d != meta["dimension"]:
                raise ValueError("vector count or dimension differs from the trailer")
        except Exception as exc:  # faiss raises RuntimeError, the trailer ValueError/KeyError
            raise IndexError_(
                f"index at {path} is unreadable ({exc}): run `khabar reindex` to rebuild it "
                "from the database"
            ) from exc
        obj = cls(int(meta["dimension"]), meta.get("means"))
        obj.index, obj.kind = index, kind
        obj.trained_on = int(meta.get("trained_on", 0))
        if kind == "ivf":
            index.nprobe = NPROBE
        obj.generation = int(meta.get("generation", 0))
        return obj
