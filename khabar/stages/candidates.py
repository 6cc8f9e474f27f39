"""Stage (c): the stories a story is compared with, found by exact search in its window.

A story may be compared with the stories folded before it: those already in an event when
the fold began, and those earlier in publication order (time, then id). Of those within
`reach` days, the `k` most similar are its candidates. The search is exact and its
similarities are computed in float64 and rounded to float32, so the candidates are the same
whatever else is in the pool (future days of a backfill, a different batch of nights): an
approximate index's top-k would change with what it holds.
"""

from __future__ import annotations

import numpy as np

from cluster.duplicates import Item

CHUNK = 512  # queued stories scored against the pool at once (bounds memory)


def pool_arrays(
    pool: list[tuple[str, float, np.ndarray]],
    folded: set[str],
    queue: list[str],
    reach: float,
    k: int,
) -> tuple:
    """`rank_candidates`' arguments from (key, day, corrected vector) entries: the pool in
    fold order, (time, then id), which is how the fold takes stories (Item.order is
    (day, id)); `queue` holds the keys to find candidates for, all in the pool."""
    entries = sorted({e[0]: e for e in pool}.values(), key=lambda e: (e[1], e[0]))
    rank = {e[0]: i for i, e in enumerate(entries)}
    return (
        [e[0] for e in entries],
        np.array([e[1] for e in entries]),
        np.stack([e[2] for e in entries]),
        np.array([e[0] in folded for e in entries]),
        np.array(sorted(rank[key] for key in queue)),
        reach,
        k,
    )


def window_candidates(
    queue: list[Item], pool: list[Item], folded: set[str], reach: float, k: int
) -> dict[str, list[str]]:
    """{queued key: candidate keys, most similar first (ties by fold order)}. `pool` holds every
    story that may be a candidate (the queue included); `folded`: keys folded earlier."""
    if not queue:
        return {}
    entries = [(it.key, it.day, it.vector) for it in pool + queue]
    return rank_candidates(*pool_arrays(entries, folded, [it.key for it in queue], reach, k))


def rank_candidates(
    keys: list[str],
    days: np.ndarray,
    vectors: np.ndarray,
    folded: np.ndarray,
    queue: np.ndarray,
    reach: float,
    k: int,
) -> dict[str, list[str]]:
    """The same on plain arrays in fold order (what a Ray task is sent): row i of the pool
    may be a candidate of queued row q if it was folded before, or i < q."""
    matrix = vectors.astype(np.float64)
    positions = np.arange(len(keys))
    out: dict[str, list[str]] = {}
    for s in range(0, len(queue), CHUNK):
        part = queue[s : s + CHUNK]
        sims = (matrix[part] @ matrix.T).astype(np.float32)
        for row, r in zip(sims, part, strict=True):
            ok = (folded | (positions < r)) & (np.abs(days - days[r]) <= reach)
            ok[r] = False
            idx = np.flatnonzero(ok)
            vals = row[idx]
            if len(idx) > k:  # keep the k best and their ties: sort tens, not thousands
                kth = np.partition(vals, len(vals) - k)[len(vals) - k]
                keep = vals >= kth
                idx, vals = idx[keep], vals[keep]
            # Most similar first, ties to the smaller fold rank (a function of the stories,
            # not of how they arrived).
            top = idx[np.lexsort((idx, -vals))][:k]
            out[keys[r]] = [keys[j] for j in top]
    return out
