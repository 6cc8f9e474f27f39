"""Stories to vectors: prompts, a token budget, batches, per-language statistics.

Budget: a story is read up to its first `TOKEN_BUDGET` tokens (title and lead; see
`Encoder`). Windows (with `token_budget=None`): a story longer than the model's limit is
cut, on token boundaries, into consecutive windows that each fit with the prompt; every
window is embedded as a text of its own and the story's vector is the token-weighted mean of
the window vectors, renormalised.

Language statistics: a multilingual encoder places every text of one language near a shared
language direction, so a Persian story can sit closer to unrelated Persian stories than to its
own Arabic translation. Subtracting each language's mean vector removes most of that offset
(mixed-language nearest-neighbour accuracy on NTREX rises from ~55% to ~90%+). The means are
running sums kept by the store and updated as stories arrive.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from embed.model import ModelInfo

Progress = Callable[[int], None]


class Runtime(Protocol):
    """What the encoder needs of a model runtime (embed/bert.py, embed/query.py,
    embed.model.STRuntime)."""

    name: str
    precision: str

    def offsets(self, text: str) -> list[tuple[int, int]]: ...
    def count(self, text: str, special: bool = False) -> int: ...
    def special_tokens(self) -> int: ...
    def embed(self, texts: list[str]) -> np.ndarray: ...


REFERENCE_DIR = Path(__file__).parent / "reference"
ENV_REFERENCE = "KHABAR_REFERENCE_DIR"  # more NAME.json files, looked at before the shipped


def load_reference(model_name: str) -> dict[str, np.ndarray]:
    """Per-language mean vectors for a model, if any: from $KHABAR_REFERENCE_DIR (for a
    model of one's own), else shipped (see scripts/reference_means.py)."""
    dirs = [Path(os.environ[ENV_REFERENCE])] if os.environ.get(ENV_REFERENCE) else []
    path = next(
        (
            d / f"{model_name}.json"
            for d in [*dirs, REFERENCE_DIR]
            if (d / f"{model_name}.json").is_file()
        ),
        None,
    )
    if path is None:
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {lang: np.asarray(v, dtype=np.float64) for lang, v in data["means"].items()}


def _starts_word(text: str, offset: int) -> bool:
    return offset == 0 or text[offset - 1].isspace()


def l2_normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


# Tokens of each story the model reads (its title and lead), and of each model pass. Measured
# with scripts/calibrate.py, `khabar eval` on NTREX, scripts/bench_nightly.py and the seed
# stories: a 512-token lead keeps NTREX's event and duplicate F1 and keeps a scraped Persian
# story and its Arabic coverage in one event, where leads of 256 or 384 tokens lost both; the
# whole text costs 1.3x the tokens on NTREX. Attention's cost grows with the square of a
# pass's length, so the lead is read in passes of 384 tokens (and the rest): 10% faster end
# to end than one pass of 512 at the same event F1; passes of 256 or 320 lost 0.01 of it.
# Both are part of every vector's cache key.
TOKEN_BUDGET = 512
WINDOW = 384  # tokens per model pass; None: as many as the model takes
PRECISIONS = ("auto", "fp32", "bf16", "int8")
ENV_PRECISION = "KHABAR_PRECISION"  # auto (the default), fp32, bf16 or int8


DEFAULT = -1  # "the module's TOKEN_BUDGET", read when used (scripts/bench_budget.py varies it)


def encoding_tag(
    token_budget: int | None = DEFAULT, window: int | None = DEFAULT, precision: str | None = None
) -> str:
    """Names how a text becomes a vector beyond the model itself (stored vectors' cache key).
    `precision`: the one that runs (None: what this machine resolves, `resolve_precision`)."""
    if token_budget == DEFAULT:
        token_budget = TOKEN_BUDGET
    if window == DEFAULT:
        window = WINDOW
    precision = precision or resolve_precision(asked_precision())
    # "-own": each text padded to a length of its own (embed/bert.py), so a vector no longer
    # carries its batch's noise; "-bmm": attention as bmm + softmax, not the flash kernel
    # (bf16 vectors move by up to 1.7e-3); "-ln": LayerNorm reads bf16 input directly (one
    # rounding apart); "-q8": int8 linear layers (embed/int8.py; cosine ~0.998 of fp32, twice
    # bf16's distance, so their vectors get keys of their own). fp32 and bf16 share keys, as
    # before. Vectors made before keep their old keys.
    tag = f"{f'lead{token_budget}' if token_budget else 'full'}-w{window or 'max'}-own-bmm-ln"
    return tag + ("-q8" if precision == "int8" else "")


MATRIX_FLAGS = ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")


def cpu_flags() -> set[str]:
    """The matrix-relevant flags /proc/cpuinfo lists (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split()) & set(MATRIX_FLAGS)
    except OSError:
        pass
    return set()


def cpu_has_bf16() -> bool:
    """bf16 matmuls are fast only with native support (AVX512-BF16 or AMX); emulated, they
    are slower than fp32, so `auto` uses them only where the CPU says it has them."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def asked_precision() -> str:
    """The precision asked for: $KHABAR_PRECISION, else auto."""
    return os.environ.get(ENV_PRECISION) or "auto"


def precision_reason(precision: str, asked: str | None = None) -> str:
    """Why the runtime runs at `precision`: what `khabar model` says."""
    asked = asked or asked_precision()
    flags = cpu_flags()
    has = ", ".join(f for f in MATRIX_FLAGS if f in flags) or "none of " + ", ".join(MATRIX_FLAGS)
    if asked != "auto":
        return f"{precision}: asked for (--precision or {ENV_PRECISION}={asked}; CPU flags: {has})"
    if precision == "bf16":
        return f"bf16: the CPU multiplies bf16 natively (CPU flags: {has})"
    return (
        f"fp32: no native bf16 on this CPU, where bf16 would be emulated (CPU flags: {has}; "
        f"--precision int8 runs the linear layers in int8, opt-in: README, Performance)"
    )


def resolve_precision(precision: str) -> str:
    """`auto`: bf16 where the CPU has it natively (AVX512-BF16, AMX), else fp32. int8 is
    only run when asked for: it is 1.2-1.3x fp32 on an AVX2-only CPU but slower than bf16
    on one with AVX512-BF16, and its quality table falls by more than 0.005 on two sets
    (NTREX translations -0.019, ExaPPC -0.005: README, Performance)."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r} "
            f"(set {ENV_PRECISION} to one of them, or unset it)"
        )
    if precision == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    return precision


class Encoder:
    """Embeds whole stories with a sentence-transformers model.

    A story is read up to `token_budget` tokens, cut at a word start: news puts the event in
    the title and lead, and attention's cost grows with length, so the lead gives the same
    events and duplicates for a fraction of the compute (duplicate checks still compare the
    full texts). The budget is read in passes of `window` tokens; with `token_budget=None`
    the whole text is read so (see the module docstring). The runtime holds the precision
    (embed/model.py).
    """

    WINDOW_SLACK = 8  # tokens kept free in each window for re-tokenization at its edges

    def __init__(
        self,
        model: Runtime,
        info: ModelInfo,
        batch_size: int = 16,
        token_budget: int | None = DEFAULT,
        window: int | None = DEFAULT,
    ):
        """`model`: a runtime from `embed.model.runtime()` (it holds the precision)."""
        self.model = model
        self.info = info
        self.batch_size = batch_size
        self.precision = model.precision
        prompt_tokens = model.count(info.query_prompt) if info.query_prompt else 0
        # Tokens of story text that fit in one window next to the prompt and special tokens.
        self.window_tokens = max(16, info.max_tokens - model.special_tokens() - prompt_tokens)
        self.extra_tokens = model.special_tokens() + prompt_tokens
        if token_budget == DEFAULT:
            token_budget = TOKEN_BUDGET
        if window == DEFAULT:
            window = WINDOW
        # Each window is re-tokenized with the prompt, which can add a token or two at its
        # edges (a leading word-start marker): a full-size window keeps a little slack.
        self.window = min(window or self.window_tokens, self.window_tokens - self.WINDOW_SLACK)
        # A budget within the model's limit is one pass: what fits next to the prompt.
        if token_budget and token_budget <= info.max_tokens:
            token_budget = min(token_budget, self.window_tokens - self.WINDOW_SLACK)
        self.token_budget = token_budget or None

    @property
    def dimension(self) -> int:
        return self.info.dimension

    def shape(self, tokens: int) -> int:
        """The padded length a piece of `tokens` text tokens runs at, about (re-tokenized
        with the prompt, a piece can gain a token at its edge)."""
        bucket = getattr(self.model, "bucket", None)
        n = tokens + self.extra_tokens
        return bucket(n) if bucket else n

    def count(self, text: str) -> int:
        """Tokens of `text` alone (no prompt, no special tokens)."""
        return self.model.count(text)

    def windows(self, text: str) -> list[tuple[str, int]]:
        """(piece text, token count) pieces that each fit the model: the text's first
        `token_budget` tokens (all of it without a budget), in windows of `window` tokens,
        every cut made where a word begins."""
        offsets = self.model.offsets(text)
        n = len(offsets)
        stop = n
        if self.token_budget and n > self.token_budget:
            stop = self._cut(text, offsets, 0, self.token_budget)
        pieces = []
        start = 0
        while start < stop:
            end = min(start + self.window, stop)
            if end < stop:
                end = self._cut(text, offsets, start, self.window)
            a = offsets[start][0]
            b = offsets[end][0] if end < n else len(text)
            pieces.append((text[a:b], end - start))
            start = end
        return pieces or [(text, 1)]

    @staticmethod
    def _cut(text: str, offsets: list[tuple[int, int]], start: int, size: int) -> int:
        """The token index at most `size` after `start` where a word begins (a piece is
        re-tokenized on its own, and a cut inside a word would change its tokens)."""
        cut = start + size
        while cut > start + size // 2 and not _starts_word(text, offsets[cut][0]):
            cut -= 1
        return cut if cut > start + size // 2 else start + size

    def encode(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text; `progress(k)` as texts finish."""
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
        # Longest first, so a batch pads little and the slowest batches come while the
        # progress bar still has far to go; a text is done when its last piece is. A runtime
        # that pads to buckets (embed/bert.py) gets batches of one bucket each.
        shape = [self.shape(n) for n in weight]
        order = sorted(range(len(chunks)), key=lambda j: (-shape[j], -weight[j]))
        left = np.bincount(np.asarray(owner), minlength=len(texts))
        vectors = np.zeros((len(chunks), self.dimension), dtype=np.float32)
        prompt = self.info.query_prompt
        batches: list[list[int]] = []
        for j in order:
            if batches and len(batches[-1]) < self.batch_size and shape[batches[-1][0]] == shape[j]:
                batches[-1].append(j)
            else:
                batches.append([j])
        for part in batches:
            vectors[part] = self.model.embed([prompt + chunks[j] for j in part])
            if progress:
                finished = 0
                for j in part:
                    left[owner[j]] -= 1
                    finished += int(left[owner[j]] == 0)
                if finished:
                    progress(finished)
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
