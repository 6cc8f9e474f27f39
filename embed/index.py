"""The FAISS index: corrected story vectors under stable int64 ids.

The database is the source of truth (it keeps every raw vector); this index is a derived,
rebuildable copy for fast search. It records the language means it was built with, so queries
are corrected exactly like the vectors inside it, and a `generation` that the database also
records: a mismatch means the index is behind (a crash between the two writes) and must be
rebuilt, never silently trusted.

Kind by size (scripts/bench_query.py measured both on this machine): up to `FLAT_MAX` vectors
an exact flat index; above, an inverted file (IVF, nlist = 4*sqrt(N), nprobe 32), whose
search reads only the probed lists. Above `IVFPQ_MIN`, a compressed inverted file
("ivfpq", see below). Readers map the file into memory instead of reading it,
so a CLI process at a million stories does not first read 1.5 GB: at 1M a flat index took
1.4-8.4 s to load and about 150 ms per search, the mapped IVF 0.002 s to load and 2.6 ms per
search at recall@10 1.0 on clustered synthetic vectors. The file is FAISS's own format
followed by a JSON trailer (generation, language means, kind), so FAISS can map it directly.

The compressed kind ("ivfpq", scripts/bench_index.py measures it against IVF-Flat at 1M and
10M vectors): an IVF-PQ index (nlist = 4*sqrt(N) capped at `PQ_NLIST_MAX`, `PQ_M` one-byte
codes per vector, so 48 + 8 bytes per vector instead of IVF-Flat's 1,544) finds
max(`RERANK_MIN`, `RERANK` * k) candidates, which are re-scored exactly against the
full-precision corrected vectors. Those live outside RAM, in a companion file next to the
index (`index-<token>.rows`: a JSON header, the sorted int64 ids, then float32 rows), mapped
read-only; a row is found by binary search over the ids. Scores returned are therefore exact
cosines, the same as the flat index's for the same hit; what the compression can cost is only
a true neighbour that is not among the candidates. The companion is written first under a
fresh token, then the index whose trailer names it; a missing or mismatched companion means a
broken home, and says to run `khabar reindex`. Every save rewrites the companion whole
(7.9 s at 1M here): simple and atomic, at the price of writing 1.5 GB per million per save.

Where the switch is (`IVFPQ_MIN`, 1M): at 1M vectors (scripts/bench_index.py, clustered
synthetic vectors, on this shared 2-core machine) IVF-Flat and IVF-PQ with re-scoring had the
same recall@10 (1.0) and about the same single-query latency (p95 5.9 and 5.0 ms from a
mapped reader), but a writer holding IVF-Flat used 1,927 MiB for the index against 111 MiB for
IVF-PQ (the nightly job reads the whole index to add to it, and peaks at 1.1-1.4 GB without
it). IVF-Flat grows by 1.5 GB per million (4*384 + 8 bytes a vector), IVF-PQ by 56 MB plus
1.5 GB of companion file on disk, which only the rows a query re-scores are read from. So up to
1M the index stays as it was, and above it the compressed kind takes over (the nightly job
switches once a home is 20% past the line, `outgrown`).
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

INDEX_FILE = "index.faiss"
MAGIC = b"KHABARIX2"  # at the file's end, after the JSON trailer and its 8-byte length
FLAT_MAX = 50_000  # above this many vectors, an IVF index (see the module docstring)
IVFPQ_MIN = 1_000_000  # above this many vectors, IVF-PQ with exact re-scoring (docstring)
NPROBE = 32
REBUILD_GROWTH = 4  # an IVF trained on N vectors is retrained once it holds 4N
PQ_M = 48  # one-byte PQ sub-codes per 384-d vector (8 dimensions each)
PQ_NLIST_MAX = 4096  # caps the coarse k-means and the assignment cost of building at 10M
RERANK, RERANK_MIN = 10, 100  # candidates re-scored exactly: max(RERANK_MIN, RERANK * k)
# range search takes PQ candidates down to threshold - margin, then re-scores them: PQ scores
# were off by up to 0.17 (p99 0.15) at 1M (scripts/bench_index.py, pq_score_abs_error_*)
RANGE_MARGIN = 0.2
ROWS_MAGIC = b"KHXROWS1"
ADD_CHUNK = 100_000  # vectors converted to float32 and added at a time
KINDS = ("flat", "ivf", "ivfpq")


def kind_for(count: int) -> str:
    if count <= FLAT_MAX:
        return "flat"
    return "ivf" if count <= IVFPQ_MIN else "ivfpq"


@contextmanager
def _replacing(path: Path, prefix: str) -> Iterator[str]:
    """A temporary file beside `path` that replaces it, fsynced, once the block ends without
    an error: a reader sees the old file or the whole new one, never part of one."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class IndexError_(RuntimeError):
    """The index file is missing, unreadable or out of step; the message says the fix."""


class VectorIndex:
    """Inner-product search over L2-normalised vectors (so scores are cosines)."""

    def __init__(self, dimension: int, means: dict[str, list[float]] | None = None):
        import faiss

        self.dimension = dimension
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.kind = "flat"
        self.rows: _Rows | None = None  # ivfpq only: the full-precision rows to re-score
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
        if kind == "ivfpq":
            self._fill_ivfpq(np.asarray(ids, dtype=np.int64), vectors)
            return
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
        self.kind, self.rows = kind, None
        self.add(ids, vectors)

    def _fill_ivfpq(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Train IVF-PQ on a sample, add in chunks (`vectors` may be a float16 or float32
        np.memmap: nothing holds all of it in RAM), and keep `vectors` itself, not a copy,
        as the rows to re-score against until `save` writes the companion file (so the
        caller must not change it before then)."""
        import faiss

        n = len(ids)
        nlist = max(1, min(int(4 * np.sqrt(n)), PQ_NLIST_MAX))
        rng = np.random.default_rng(0)
        pick = np.sort(rng.choice(n, min(n, 40 * nlist), replace=False))
        sample = np.ascontiguousarray(vectors[pick], dtype=np.float32)
        # PQ_M sub-codes of 8 bits at archive scale; a small index forced to this kind (tests)
        # gets fewer bits, as k-means needs more points than centroids, and another
        # dimension the largest number of sub-codes that divides it
        m = max(i for i in range(1, PQ_M + 1) if self.dimension % i == 0)
        nbits = int(np.clip(np.log2(max(n, 2) / 4), 1, 8))
        quantizer = faiss.IndexFlatIP(self.dimension)
        ivf = faiss.IndexIVFPQ(
            quantizer, self.dimension, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT
        )
        ivf.cp.niter = 10  # the lists only route candidates; re-scoring makes scores exact
        ivf.train(sample)
        del sample
        ivf.nprobe = NPROBE
        self.index, self.trained_on, self._quantizer = ivf, n, quantizer
        self.kind, self.rows = "ivfpq", _Rows(self.dimension)
        for a in range(0, n, ADD_CHUNK):
            chunk = np.ascontiguousarray(vectors[a : a + ADD_CHUNK], dtype=np.float32)
            ivf.add_with_ids(chunk, ids[a : a + ADD_CHUNK])
        self.rows.set_base(ids, vectors)

    def outgrown(self) -> bool:
        """True when another kind, or a retrained IVF, would now serve better."""
        n = len(self)
        want = kind_for(n)
        if want != self.kind:  # no flapping: only once 20% past the boundary either way
            return kind_for(int(n / 1.2)) == want and kind_for(int(n / 0.8)) == want
        return self.kind in ("ivf", "ivfpq") and n > REBUILD_GROWTH * self.trained_on

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
        for a in range(0, len(ids), ADD_CHUNK):
            chunk = np.ascontiguousarray(vectors[a : a + ADD_CHUNK], dtype=np.float32)
            self.index.add_with_ids(chunk, ids[a : a + ADD_CHUNK])
            if self.rows is not None:
                self.rows.add(ids[a : a + ADD_CHUNK], chunk)

    def remove(self, ids: Iterable[int]) -> int:
        import faiss

        ids = np.asarray(list(ids), dtype=np.int64)
        if not len(ids):
            return 0
        removed = int(self.index.remove_ids(faiss.IDSelectorBatch(ids)))
        if self.rows is not None:
            self.rows.remove(ids)
        return removed

    def search(
        self, vectors: np.ndarray, k: int, allowed: Iterable[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query row; `allowed` restricts to those ids (time windows)."""
        import faiss

        q = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        k = max(1, min(k, len(self)))
        wanted = k
        if self.kind == "ivfpq":  # candidates by PQ, then exact scores (module docstring)
            wanted = min(max(RERANK_MIN, RERANK * k), len(self))
        if allowed is None:
            scores, ids = self.index.search(q, wanted)
        else:
            sel = faiss.IDSelectorBatch(np.asarray(list(allowed), dtype=np.int64))
            if self.kind in ("ivf", "ivfpq"):
                params = faiss.SearchParametersIVF(sel=sel, nprobe=NPROBE)
            else:
                params = faiss.SearchParameters(sel=sel)
            scores, ids = self.index.search(q, wanted, params=params)
        if self.kind == "ivfpq":
            return self._rescore(q, ids, k)
        return scores, ids

    def _rescore(self, q: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The top k of each row's candidates by exact cosine (ties by id), padded like FAISS
        pads (id -1, score -FLT_MAX)."""
        assert self.rows is not None
        uniq = np.unique(cand[cand >= 0])
        rows = self.rows.get(uniq)
        scores = np.full((len(q), k), -np.finfo(np.float32).max, dtype=np.float32)
        ids = np.full((len(q), k), -1, dtype=np.int64)
        for i in range(len(q)):
            c = cand[i][cand[i] >= 0]
            s = rows[np.searchsorted(uniq, c)] @ q[i]
            top = np.lexsort((c, -s))[:k]
            scores[i, : len(top)], ids[i, : len(top)] = s[top], c[top]
        return scores, ids

    def range_search(
        self, vectors: np.ndarray, threshold: float
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """All (scores, ids) at or above `threshold`, per query row.

        For "ivfpq" the candidates are the vectors in the probed lists whose PQ score is at
        least `threshold - RANGE_MARGIN`; they are re-scored exactly and those at or above
        `threshold` returned, best first, with exact cosines. So it can miss a vector whose
        PQ estimate is more than the margin too low (or that lies outside the probed lists,
        as for "ivf"), but never returns one below the threshold."""
        q = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        if self.kind != "ivfpq":
            lims, scores, ids = self.index.range_search(q, float(threshold))
            return [
                (scores[lims[i] : lims[i + 1]], ids[lims[i] : lims[i + 1]]) for i in range(len(q))
            ]
        assert self.rows is not None
        lims, _, cand = self.index.range_search(q, float(threshold) - RANGE_MARGIN)
        out = []
        for i in range(len(q)):
            c = np.unique(cand[lims[i] : lims[i + 1]])
            s = self.rows.get(c) @ q[i] if len(c) else np.zeros(0, np.float32)
            keep = s >= threshold
            c, s = c[keep], s[keep]
            order = np.lexsort((c, -s))
            out.append((s[order].astype(np.float32), c[order]))
        return out

    # --- persistence ---------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the index and its trailer as one file, atomically (temp file, fsync, rename).
        An "ivfpq" index first writes its companion rows file under a fresh name, which the
        trailer then names; older companions are deleted once the index points past them."""
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".index-*"):  # left by a writer killed mid-save
            stale.unlink(missing_ok=True)
        rows_meta = None
        if self.rows is not None:
            token = uuid.uuid4().hex
            name = f"index-{token}.rows"
            self.rows.write(folder / name, token)
            rows_meta = {"file": name, "token": token}
        meta = json.dumps(
            {
                "dimension": self.dimension,
                "count": len(self),
                "generation": self.generation,
                "kind": self.kind,
                "trained_on": self.trained_on,
                "means": {k: v.tolist() for k, v in self.means.items()},
                "rows": rows_meta,
            }
        ).encode("utf-8")
        with _replacing(folder / INDEX_FILE, ".index-") as tmp:
            faiss.write_index(self.index, tmp)
            with open(tmp, "ab") as fh:
                fh.write(meta + struct.pack("<Q", len(meta)) + MAGIC)
        for old in folder.glob("index-*.rows"):
            if rows_meta is None or old.name != rows_meta["file"]:
                old.unlink(missing_ok=True)
        if self.rows is not None and rows_meta is not None:  # re-score from the file now
            self.rows = _Rows.open(folder / rows_meta["file"], rows_meta["token"], len(self))

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
            expected = {
                "flat": faiss.IndexIDMap2,
                "ivf": faiss.IndexIVFFlat,
                "ivfpq": faiss.IndexIVFPQ,
            }.get(kind)
            if expected is None or not isinstance(index, expected):
                raise ValueError(f"unexpected index type {type(index).__name__} for {kind!r}")
            if index.ntotal != meta["count"] or index.d != meta["dimension"]:
                raise ValueError("vector count or dimension differs from the trailer")
            rows = None
            if kind == "ivfpq":
                ref = meta.get("rows") or {}
                rows = _Rows.open(folder / str(ref.get("file")), ref.get("token"), index.ntotal)
        except IndexError_:
            raise
        except Exception as exc:  # faiss raises RuntimeError, the trailer ValueError/KeyError
            raise IndexError_(
                f"index at {path} is unreadable ({exc}): run `khabar reindex` to rebuild it "
                "from the database"
            ) from exc
        obj = cls(int(meta["dimension"]), meta.get("means"))
        obj.index, obj.kind, obj.rows = index, kind, rows
        obj.trained_on = int(meta.get("trained_on", 0))
        if kind in ("ivf", "ivfpq"):
            index.nprobe = NPROBE
        obj.generation = int(meta.get("generation", 0))
        return obj


class _Rows:
    """Full-precision corrected vectors by id for re-scoring, kept out of RAM: the base rows
    (the mapped companion file, or the array `fill` was given) plus rows added since, less the
    base rows removed or replaced since. Only the additions since the last save are in RAM.

    Companion file: `ROWS_MAGIC`, a little-endian u64 length and a JSON header (dimension,
    count, token, offsets), then at 64-byte aligned offsets the sorted int64 ids and the
    float32 rows in the same order. Read with np.memmap: nothing is unpickled."""

    def __init__(self, dimension: int):
        self.dimension = dimension
        self.ids = np.zeros(0, dtype=np.int64)  # sorted base ids
        self.source: np.ndarray = np.zeros((0, dimension), dtype=np.float32)
        self.order: np.ndarray | None = None  # base row of ids[i] is source[order[i]]
        self.removed: set[int] = set()  # base ids no longer present
        self.new: dict[int, np.ndarray] = {}
        self.path: Path | None = None  # the companion file the base rows are mapped from
        self.rows_at = 0

    def set_base(self, ids: np.ndarray, source: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) > 1 and not (ids[1:] > ids[:-1]).all():
            self.order = np.argsort(ids, kind="stable")
            ids = ids[self.order]
        else:
            self.order = None
        self.ids, self.source, self.removed, self.new = ids, source, set(), {}
        self.path = None

    def _in_base(self, ids: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.ids, ids)
        hit = pos < len(self.ids)
        hit[hit] = self.ids[pos[hit]] == ids[hit]
        return hit

    def add(self, ids: np.ndarray, rows: np.ndarray) -> None:
        for i in ids[self._in_base(ids)].tolist():  # a replaced base row
            self.removed.add(i)
        for i, row in zip(ids.tolist(), rows, strict=True):
            self.new[i] = np.array(row, dtype=np.float32)

    def remove(self, ids: np.ndarray) -> None:
        for i in ids.tolist():
            self.new.pop(i, None)
        self.removed.update(ids[self._in_base(ids)].tolist())

    def get(self, ids: np.ndarray) -> np.ndarray:
        """Rows for these ids (unique), float32, in their order."""
        out = np.empty((len(ids), self.dimension), dtype=np.float32)
        fresh = np.array([i in self.new for i in ids.tolist()], dtype=bool)
        for j in np.flatnonzero(fresh):
            out[j] = self.new[int(ids[j])]
        rest = np.flatnonzero(~fresh)
        if len(rest):
            pos = np.searchsorted(self.ids, ids[rest])
            pos = np.minimum(pos, max(len(self.ids) - 1, 0))
            if not len(self.ids) or (self.ids[pos] != ids[rest]).any():
                raise IndexError_(
                    "the index's companion rows file lacks ids the index holds: run "
                    "`khabar reindex` to rebuild it from the database"
                )
            if self.order is not None:
                pos = self.order[pos]
            sort = np.argsort(pos)  # read the mapped file in order
            self._prefetch(pos[sort])
            out[rest[sort]] = self.source[pos[sort]]
        return out

    def _prefetch(self, pos: np.ndarray) -> None:
        """Ask the kernel for these rows of the companion file all at once, so rows not in
        the page cache are read in parallel rather than one page fault after another
        (at 10M vectors the file outgrows the page cache, and a query re-scores 100 rows)."""
        if self.path is None or len(pos) < 2 or not hasattr(os, "posix_fadvise"):
            return
        size = 4 * self.dimension
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for p in pos.tolist():
                os.posix_fadvise(fd, self.rows_at + p * size, size, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)

    def write(self, path: Path, token: str) -> None:
        """All present rows, sorted by id, to `path` atomically (temp file, fsync, rename),
        streamed in chunks."""
        keep = np.flatnonzero(~np.isin(self.ids, np.fromiter(self.removed, np.int64)))
        new_ids = np.array(sorted(self.new), dtype=np.int64)
        all_ids = np.concatenate([self.ids[keep], new_ids])
        perm = np.argsort(all_ids, kind="stable")
        count, nb = len(all_ids), len(keep)
        ids_at = 0
        header = b""
        for _ in range(2):  # the header's length fixes the offsets it records
            ids_at = _align(len(ROWS_MAGIC) + 8 + len(header))
            rows_at = _align(ids_at + 8 * count)
            header = json.dumps(
                {
                    "dimension": self.dimension,
                    "count": count,
                    "token": token,
                    "dtype": "float32",
                    "ids_at": ids_at,
                    "rows_at": rows_at,
                }
            ).encode("utf-8")
        with _replacing(path, ".index-rows-") as tmp, open(tmp, "wb") as fh:
            fh.write(ROWS_MAGIC + struct.pack("<Q", len(header)) + header)
            fh.write(b"\0" * (ids_at - fh.tell()))
            fh.write(all_ids[perm].tobytes())
            fh.write(b"\0" * (rows_at - fh.tell()))
            for a in range(0, count, ADD_CHUNK):
                sel = perm[a : a + ADD_CHUNK]
                chunk = np.empty((len(sel), self.dimension), dtype=np.float32)
                base = sel < nb
                pos = keep[sel[base]]
                if self.order is not None:
                    pos = self.order[pos]
                chunk[base] = self.source[pos]
                for j in np.flatnonzero(~base):
                    chunk[j] = self.new[int(new_ids[sel[j] - nb])]
                fh.write(chunk.tobytes())

    @classmethod
    def open(cls, path: Path, token: object, count: int) -> _Rows:
        """Map a companion file, checking it is the one the index's trailer names."""
        fix = "run `khabar reindex` to rebuild it from the database"
        if not path.is_file():
            raise IndexError_(f"the index's companion rows file {path} is missing: {fix}")
        try:
            with open(path, "rb") as fh:
                if fh.read(len(ROWS_MAGIC)) != ROWS_MAGIC:
                    raise ValueError("not a khabar rows file")
                (n,) = struct.unpack("<Q", fh.read(8))
                head = json.loads(fh.read(n).decode("utf-8"))
                size = os.fstat(fh.fileno()).st_size
            d, c = int(head["dimension"]), int(head["count"])
            if head["token"] != token:
                raise ValueError("it belongs to another save of the index")
            if c != count:
                raise ValueError(f"it holds {c} rows, the index {count}")
            if head["dtype"] != "float32" or size != int(head["rows_at"]) + 4 * c * d:
                raise ValueError("its size does not match its header (truncated?)")
            obj = cls(d)
            if c:
                obj.ids = np.memmap(path, np.int64, "r", int(head["ids_at"]), (c,))
                obj.source = np.memmap(path, np.float32, "r", int(head["rows_at"]), (c, d))
                obj.path, obj.rows_at = path, int(head["rows_at"])
        except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
            raise IndexError_(
                f"the index's companion rows file {path} is unusable ({exc}): {fix}"
            ) from exc
        return obj


def _align(n: int, to: int = 64) -> int:
    return (n + to - 1) // to * to
