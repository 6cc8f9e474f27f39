"""Vectors the suite has computed before, so that a re-run embeds nothing it has seen.

The suite builds many temporary homes over the same texts (one per fold, per round of a pair
set); a home never embeds a text twice, but a new home knows nothing of the last one. This
cache keys each vector by the model folder (whose name carries the weights' digest), the
encoding tag (token budget and passes) and the exact model input, in a SQLite file of float32
bytes: nothing is unpickled, and a changed model or budget simply misses.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np

from embed.encoder import Encoder, Progress, encoding_tag


class VectorCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS v (key TEXT PRIMARY KEY, vector BLOB)")

    def get(self, keys: list[str]) -> dict[str, np.ndarray]:
        out = {}
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            q = f"SELECT key, vector FROM v WHERE key IN ({','.join('?' * len(part))})"
            for k, blob in self.db.execute(q, part):
                out[k] = np.frombuffer(blob, dtype=np.float32).copy()
        return out

    def put(self, items: dict[str, np.ndarray]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO v(key, vector) VALUES(?, ?)",
            [(k, np.asarray(v, np.float32).tobytes()) for k, v in items.items()],
        )

    def close(self) -> None:
        self.db.close()


class CachingEncoder:
    """An `Encoder` that answers from a `VectorCache` and embeds only what it lacks."""

    def __init__(self, encoder: Encoder, cache: VectorCache):
        self.encoder = encoder
        self.cache = cache
        self.info = encoder.info
        self.precision = encoder.precision
        self.embedded = 0  # texts the model actually embedded
        self._prefix = f"{encoder.info.path.name}\0{encoding_tag(precision=self.precision)}\0"

    @property
    def dimension(self) -> int:
        return self.encoder.dimension

    def key(self, text: str) -> str:
        return hashlib.sha256((self._prefix + text).encode("utf-8")).hexdigest()

    def encode(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        found = self.cache.get(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            vecs = self.encoder.encode([texts[i] for i in missing], progress=progress)
            new = {keys[i]: vecs[j] for j, i in enumerate(missing)}
            self.cache.put(new)
            found.update(new)
            self.embedded += len(missing)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)
