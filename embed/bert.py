"""A lean runtime for sentence-transformers folders of the BERT + mean pooling + normalise kind.

Why: importing sentence-transformers (with transformers and scikit-learn behind it) takes
about 5 s on this machine, as long as embedding a hundred stories; this runtime needs only
torch, safetensors and tokenizers (about 1.4 s), and reads the same folder: `modules.json`,
`config.json`, `model.safetensors`, `tokenizer.json`, the pooling config and the prompts.
It computes what sentence-transformers computes (tests/test_model.py checks the two agree to
a cosine of 0.9999); folders of any other kind are run by sentence-transformers itself
(`embed/model.py` decides, and `khabar model` says which runtime a folder gets).
"""

from __future__ import annotations

import json
from math import inf
from pathlib import Path

import numpy as np


def supports(folder: Path) -> str | None:
    """None when this runtime can run `folder`, else why not."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        types = [m["type"] for m in modules]
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pooling = json.loads((folder / pooling_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        return f"not a plain BERT folder ({exc})"
    if [t.rsplit(".", 1)[-1] for t in types] != ["Transformer", "Pooling", "Normalize"]:
        return f"modules {types}"
    if config.get("model_type") not in ("bert", "xlm-roberta"):
        return f"model_type {config.get('model_type')!r}"
    if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != (
        "absolute"
    ):
        return "activation or position embedding other than BERT's"
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        return f"pooling {modes}"
    if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
        return "no model.safetensors or tokenizer.json"
    return None


# Batch invariance. In bf16 a text's vector moved by up to 1e-3 with the batch it shared:
# the batch's padded length and whether any row was padded (the attention kernel) pick
# different matmul blockings; the number of rows does not. A text runs padded to a length
# of its own (its token count rounded up to a step: BUCKET above 256 tokens, finer below),
# always masked, so each vector is a function of its text alone (tests/test_encoder.py) and a
# backfill and a night, batching differently, agree to the float. The cost: at most a step
# of padding a text.
BUCKET = 32
ROWS = 64  # texts a block holds at most (the encoder sends batches of one bucket)
SCORES_BYTES = 4 << 20  # attention scores computed at once (see BertEncoder._attention)


def _chunk(fits: int, heads: int) -> int:
    """(text, head) matrices whose scores fit the cache budget at once: a multiple of the
    heads, or below one text a divisor of them, so every chunk of a block is the same size
    (fp32 at 392 tokens: 4 matrices at once ran 43.5 ms a 16-text block against 50.0 for 12)."""
    if fits >= heads:
        return fits // heads * heads
    return max(d for d in range(1, heads + 1) if heads % d == 0 and d <= max(fits, 1))


class BertEncoder:
    """Mean-pooled, L2-normalised BERT embeddings; bf16 or fp32 weights."""

    name = "khabar-bert"

    def __init__(self, folder: Path, precision: str = "fp32", max_tokens: int = 512):
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        self.torch = torch
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.pad_id = int(config.get("pad_token_id", 0))
        self.offset = self.pad_id + 1 if config["model_type"] == "xlm-roberta" else 0
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32  # int8: fp32
        self.precision = precision
        self.max_tokens = max_tokens
        w = load_file(str(folder / "model.safetensors"))
        w = {k.removeprefix("bert.").removeprefix("roberta."): v for k, v in w.items()}
        keep = ("LayerNorm", "embeddings")  # normalised in fp32; embeddings are only gathered
        self.w = {k: v if any(s in k for s in keep) else v.to(self.dtype) for k, v in w.items()}
        for i in range(self.layers):  # query, key and value as one matmul (one pass over x)
            p = f"encoder.layer.{i}.attention.self."
            for part in ("weight", "bias"):
                names = [f"{p}{s}.{part}" for s in ("query", "key", "value")]
                self.w[f"{p}qkv.{part}"] = self.torch.cat([self.w.pop(n) for n in names])
        self.linears = self._linears()
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.dimension = int(config["hidden_size"])

    LINEARS = ("attention.self.qkv", "attention.output.dense", "intermediate.dense", "output.dense")

    def _linears(self) -> dict:
        """Each layer's linear maps by name: F.linear on the weights, or int8 (embed/int8.py)."""
        from functools import partial

        F = self.torch.nn.functional
        out = {}
        for i in range(self.layers):
            for name in self.LINEARS:
                key = f"encoder.layer.{i}.{name}"
                weight, bias = self.w[key + ".weight"], self.w[key + ".bias"]
                if self.precision == "int8":
                    from embed.int8 import Int8Linear

                    out[key] = Int8Linear(weight, bias)
                    del self.w[key + ".weight"]  # the packed int8 copy is all that runs
                else:
                    out[key] = partial(F.linear, weight=weight, bias=bias)
        return out

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character spans of `text`'s tokens, without special tokens."""
        return self.tokenizer.encode(text, add_special_tokens=False).offsets

    def count(self, text: str, special: bool = False) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=special).ids)

    def special_tokens(self) -> int:
        return self.count("", special=True)

    def bucket(self, tokens: int) -> int:
        """The padded length a text of `tokens` tokens (special tokens included) runs at."""
        step = 8 if tokens <= 64 else 16 if tokens <= 256 else BUCKET
        return min(-(-tokens // step) * step, self.max_tokens)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Texts (prompt included), cut at `max_tokens`, each vector a function of its own
        text only: texts run in blocks of up to ROWS padded to their bucket (see BUCKET)."""
        encs = self.tokenizer.encode_batch(texts, add_special_tokens=True)
        ids = [
            e.ids[: self.max_tokens - 1] + e.ids[-1:] if len(e.ids) > self.max_tokens else e.ids
            for e in encs
        ]
        groups: dict[int, list[int]] = {}
        for i, x in enumerate(ids):
            groups.setdefault(self.bucket(len(x)), []).append(i)
        out = np.zeros((len(ids), self.dimension), dtype=np.float32)
        for n, members in groups.items():
            for s in range(0, len(members), ROWS):
                part = members[s : s + ROWS]
                out[part] = self._block([ids[i] for i in part], n)
        return out

    def _block(self, ids: list[list[int]], n: int) -> np.ndarray:
        """One forward pass of texts padded to n tokens."""
        torch = self.torch
        batch = torch.full((len(ids), n), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), n), dtype=torch.bool)
        for i, x in enumerate(ids):
            batch[i, : len(x)] = torch.tensor(x)
            mask[i, : len(x)] = True
        with torch.inference_mode():
            h = self._forward(batch, mask)
            m = mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)
            pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
        return pooled.numpy()

    def _forward(self, ids, mask):
        torch, w, F = self.torch, self.w, self.torch.nn.functional
        b, n = ids.shape
        positions = torch.arange(self.offset, self.offset + n).unsqueeze(0)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][positions]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        # Always masked, even when nothing is padded: one kernel for every block (see BUCKET).
        # An additive bias, -inf on padding keys, one row per (text, head).
        bias = torch.zeros((b, 1, n), dtype=self.dtype).masked_fill_(~mask[:, None, :], -inf)
        bias = bias.repeat_interleave(self.heads, 0)
        d = x.shape[-1]
        hd = d // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(t, name, p=p):
                return self.linears[p + name](t)

            # [3, b * heads, n, hd]: each (text, head) a contiguous matrix for bmm.
            qkv = lin(x, "attention.self.qkv").view(b, n, 3, self.heads, hd)
            qkv = qkv.permute(2, 0, 3, 1, 4).reshape(3, b * self.heads, n, hd)
            a = self._attention(qkv[0], qkv[1], qkv[2], bias, n, hd)
            a = a.view(b, self.heads, n, hd).transpose(1, 2).reshape(b, n, d)
            a = lin(a, "attention.output.dense")
            x = self._norm(a + x, p + "attention.output.LayerNorm")
            hidden = F.gelu(lin(x, "intermediate.dense"))
            x = self._norm(lin(hidden, "output.dense") + x, p + "output.LayerNorm")
        return x

    def _attention(self, q, k, v, bias, n: int, hd: int):
        """softmax(q k^T / sqrt(hd) + bias) v, a few texts at a time.

        Why not F.scaled_dot_product_attention: at 32 dimensions a head its CPU flash kernel
        ran at ~95 GFLOP/s here, a quarter of the bf16 matmul peak, and was 38% of a night's
        encoding time (scripts/bench_encode.py). Plain bmm + softmax is faster as long as a
        chunk's scores stay in cache (~4 MB: one text at 392 tokens, all of a short batch),
        and each (text, head) is its own matrix, so a vector still does not depend on its
        batch (tests/test_model.py).
        """
        torch = self.torch
        rows = q.shape[0]
        per = _chunk(SCORES_BYTES // (n * n * q.element_size()), self.heads)
        out = torch.empty_like(q)
        for s in range(0, rows, per):
            e = min(s + per, rows)
            scores = torch.baddbmm(bias[s:e], q[s:e], k[s:e].transpose(1, 2), alpha=hd**-0.5)
            torch.bmm(torch.softmax(scores, -1), v[s:e], out=out[s:e])
        return out

    def _norm(self, x, name: str):
        """LayerNorm with fp32 weights, computed in fp32 inside the kernel: bf16 input is
        read as it is (no fp32 copy of it and back: 3x faster than that on this CPU, and
        within one bf16 rounding of it)."""
        F = self.torch.nn.functional
        w = self.w
        out = F.layer_norm(x, x.shape[-1:], w[name + ".weight"], w[name + ".bias"], self.eps)
        return out.to(self.dtype)
