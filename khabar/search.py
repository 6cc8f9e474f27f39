"""Answering "what else covers this story?" from the index and the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from embed import text as textlib
from embed.encoder import Encoder
from embed.index import VectorIndex
from khabar import vectors
from khabar.store import Store

MAX_K = 1000


class NotFound(LookupError):
    """No story with that id."""


@dataclass
class Hit:
    score: float
    story: dict[str, Any]


class Searcher:
    """Similarity in the language-corrected space, for a stored story or a new text."""

    def __init__(
        self,
        store: Store,
        encoder_factory: Callable[[], Encoder],
        index: VectorIndex | None = None,
    ):
        """`index`: one the caller already holds (the HTTP service); else loaded on use."""
        self.store = store
        self.encoder_factory = encoder_factory
        self._index = index

    @property
    def index(self) -> VectorIndex:
        if self._index is None:
            self._index = vectors.load(self.store, self.store.home)
        return self._index

    def by_id(self, story_id: str, k: int = 10, lang: str | None = None) -> list[Hit]:
        story = self.store.get(story_id)
        if story is None:
            raise NotFound(story_id)
        raw = self.store.vector(story["embed_key"])
        query = self.index.correct([story["lang"]], raw[None, :])
        return self._search(query, k, lang, exclude={story["vid"]})

    def by_text(self, text: str, k: int = 10, lang: str | None = None) -> tuple[str, list[Hit]]:
        """Hits for a free text, and the language it was read as."""
        clean = textlib.clean_for_model(textlib.strip_boilerplate(text)) or text
        qlang = textlib.detect_language(clean)
        encoder = self.encoder_factory()
        raw = encoder.encode([clean])
        return qlang, self._search(self.index.correct([qlang], raw), k, lang, exclude=set())

    def _search(self, query: np.ndarray, k: int, lang: str | None, exclude: set[int]) -> list[Hit]:
        k = max(1, min(int(k), MAX_K))
        allowed = self.store.vids_with_lang(lang) if lang else None
        if allowed is not None and not allowed:
            return []
        scores, ids = self.index.search(query, k + len(exclude), allowed=allowed)
        pairs = [(float(s), int(i)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]
        pairs = [(s, i) for s, i in pairs if i not in exclude][:k]
        stories = self.store.by_vids(i for _, i in pairs)
        return [Hit(s, stories[i]) for s, i in pairs if i in stories]
