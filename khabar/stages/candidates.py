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


def fold_key(item: Item) -> tuple:
    return (item.order, item.key)


def window_candidates(
    queue: list[Item], pool: list[Item], folded: set[str], reach: float, k: int
) -> dict[str, list[str]]:
    """{queued key: candidate keys, most similar first (ties by fold order)}. `pool` holds every
    story that may be a candidate (the queue included); `folded`: keys folded earlier."""
    if not queue:
        return {}
    pool = sorted({it.key: it for it in pool + queue}.values(), key=fold_key)
    rank = {it.key: i for i, it in enumerate(pool)}
    return rank_candidates(
        [it.key for it in pool],
        np.array([it.day for it in pool]),
        np.stack([it.vector for it in pool]),
        np.array([it.key in folded for it in pool]),
        np.array([rank[it.key] for it in queue]),
        reach,
        k,
    )


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
            # Most similar first, ties to the smaller fold rank (a function of the stories,
            # not of how they arrived).
            top = idx[np.lexsort((idx, -row[idx]))][:k]
            out[keys[r]] = [keys[j] for j in top]
    return out
