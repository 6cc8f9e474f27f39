"""Per-language means as of each publication day: what the language correction subtracts.

A multilingual encoder puts every text of one language near a shared direction; the
decisions compare vectors with each language's mean removed (embed/encoder.py). Which
mean? Running means over the whole home made a story's corrected vector depend on what
else had arrived and in how many runs: a backfill of ten days and ten nights gave
different scores. Here a story is corrected with the means of the stories published up to
and including its own day, whichever run brought them. The sums are kept per (language,
day) in int64 fixed point, so adding the same vectors in any order gives the same bits.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from embed.encoder import LanguageStats, load_reference
from khabar.store import Store

SCALE = float(2**32)  # fixed-point unit: a unit vector's components round to 2^-32


def quantise(vectors: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(vectors, dtype=np.float64) * SCALE).astype(np.int64)


Changes = dict[tuple[str, int], tuple[int, np.ndarray]]


def changes(
    langs: Iterable[str], days: Iterable[int], vectors: np.ndarray, sign: int = 1
) -> Changes:
    """The (language, day) rows' count and sum changes for these stories."""
    out: Changes = {}
    q = quantise(vectors)
    for lang, day, vec in zip(langs, days, q, strict=True):
        n, total = out.get((lang, int(day)), (0, np.zeros(q.shape[1], dtype=np.int64)))
        out[(lang, int(day))] = (n + sign, total + sign * vec)
    return out


def merge(a: Changes, b: Changes) -> Changes:
    out = dict(a)
    for key, (n, total) in b.items():
        m, t = out.get(key, (0, np.zeros_like(total)))
        out[key] = (m + n, t + total)
    return out


def fill(store: Store) -> None:
    """Build the rows from the stories (a home migrated from schema 2)."""
    from khabar.days import day_number

    store.db.execute("DELETE FROM lang_days")
    rows = store.db.execute(
        "SELECT s.lang, s.published_at, s.ingested_at, v.vector "
        "FROM stories s JOIN vectors v USING(embed_key)"
    ).fetchall()
    if not rows:
        return
    days = [day_number({"published_at": r[1], "ingested_at": r[2]}) for r in rows]
    vecs = np.stack([np.frombuffer(r[3], dtype=np.float32) for r in rows])
    store.add_lang_days(changes([r[0] for r in rows], days, vecs))


class DayMeans:
    """Corrects vectors with the language means as of each vector's day."""

    def __init__(self, store: Store):
        self.dimension = int(store.get_meta("dimension") or 0)
        reference = load_reference(store.get_meta("model") or "")
        if reference and len(next(iter(reference.values()))) != self.dimension:
            reference = {}
        self.reference = reference
        self.rows = store.load_lang_days()
        self._stats: dict[int, LanguageStats] = {}

    def stats(self, day: int) -> LanguageStats:
        """The statistics of the stories published up to the end of `day`."""
        if day not in self._stats:
            sums: dict[str, np.ndarray] = {}
            counts: dict[str, int] = {}
            for lang, d, n, total in self.rows:
                if d > day:
                    break
                sums[lang] = sums.get(lang, 0) + total
                counts[lang] = counts.get(lang, 0) + n
            self._stats[day] = LanguageStats(
                dimension=self.dimension,
                sums={k: v.astype(np.float64) / SCALE for k, v in sums.items() if counts[k]},
                counts={k: v for k, v in counts.items() if v},
                reference=self.reference,
            )
        return self._stats[day]

    def center(self, langs: list[str], days: list[int], vectors: np.ndarray) -> np.ndarray:
        out = np.zeros_like(vectors, dtype=np.float32)
        by_day: dict[int, list[int]] = {}
        for i, d in enumerate(days):
            by_day.setdefault(int(d), []).append(i)
        for d, rows in by_day.items():
            out[rows] = self.stats(d).center([langs[i] for i in rows], vectors[rows])
        return out
