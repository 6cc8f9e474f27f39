"""Keeping the FAISS index in step with the database and its language statistics.

The index holds language-corrected vectors computed with a snapshot of the per-language means.
New stories are added with that same snapshot, so every vector in the index and every query
is corrected alike. When the running means have moved far enough from the snapshot (a
language's mean shifts by more than `DRIFT`), the index is rebuilt from the raw vectors in
the database with the current means; as a home grows, rebuilds become rare.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from embed.encoder import LanguageStats, load_reference
from embed.index import IndexError_, VectorIndex, kind_for
from khabar.store import Store

DRIFT = 0.02  # L2 distance between a language's current mean and the index's snapshot
GLOBAL = "*"  # the snapshot key used for languages the index has not seen


def load_stats(store: Store, dimension: int) -> LanguageStats:
    sums, counts = store.load_lang_stats()
    reference = load_reference(store.get_meta("model") or "")
    if reference and len(next(iter(reference.values()))) != dimension:
        reference = {}
    return LanguageStats(dimension=dimension, sums=sums, counts=counts, reference=reference)


def snapshot(stats: LanguageStats) -> dict[str, list[float]]:
    means = {k: v.tolist() for k, v in stats.means().items()}
    means[GLOBAL] = stats.global_mean().tolist()
    return means


def drifted(index: VectorIndex, stats: LanguageStats) -> bool:
    current = stats.means()
    for lang, mean in current.items():
        if lang not in index.means or np.linalg.norm(mean - index.means[lang]) > DRIFT:
            return True
    return False


STREAM_CHUNK = 100_000  # stories read from the database at once by a streamed rebuild


def rebuild(store: Store, stats: LanguageStats, dimension: int) -> VectorIndex:
    """A fresh index of the kind that suits the home's size (embed/index.py). At archive
    scale (an IVF-PQ) the corrected vectors are streamed from the database into a scratch
    file that the index maps (an unlinked file: the space goes with the index), so a
    rebuild of 10M stories never holds them all in memory (15 GB)."""
    index = VectorIndex(dimension, snapshot(stats))
    n = store.count()
    if kind_for(n) != "ivfpq":
        vids, langs, vecs = store.story_vectors()
        index.fill(vids, index.correct(langs, vecs))
        return index
    scratch = store.home / "rebuild-vectors.npy.tmp"
    rows = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.float32, shape=(n, dimension))
    os.unlink(scratch)  # mapped: kept until the index lets it go; gone after a crash
    ids = np.empty(n, dtype=np.int64)
    i = 0
    for vids, langs, vecs in store.iter_story_vectors(STREAM_CHUNK):
        rows[i : i + len(vids)] = index.correct(langs, vecs)
        ids[i : i + len(vids)] = vids
        i += len(vids)
    index.fill(ids[:i], rows[:i], kind="ivfpq")
    return index


def generation(store: Store) -> int:
    """The index generation the database was last committed with."""
    return int(store.get_meta("index_generation") or 0)


def advance(store: Store, index: VectorIndex) -> None:
    """Give `index` the next generation and record it in the (uncommitted) transaction; the
    index file must be saved after the commit."""
    index.generation = generation(store) + 1
    store.set_meta("index_generation", str(index.generation))


def load(store: Store, home: Path, writable: bool = False) -> VectorIndex:
    """The saved index, checked against the database it was built from."""
    index = VectorIndex.load(home, writable=writable)
    expected = generation(store)
    if index.generation != expected or len(index) != store.count():
        raise IndexError_(
            f"the index in {home} is behind the database (generation {index.generation} vs "
            f"{expected}, {len(index)} vs {store.count()} stories), probably after an "
            "interrupted run: run `khabar reindex` to rebuild it"
        )
    return index
