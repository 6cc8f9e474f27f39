"""Encoding speed against the machine's own limit, before and after a change, in one run.

Prints JSON. For each side, in its own process, `--repeats` times, sides alternating, medians:

- `khabar`: this checkout's encoder (token budget, lean runtime, bf16 where the CPU has it);
- `before` (with `--before REF`): the same, run from the code at git REF (a temporary
  worktree), so a change's effect is a ratio of two measurements taken in one run;
- `naive`: the naive peer (sentence-transformers fp32, `query: ` prompt, batch 16, cut at
  512 tokens).

Every side reports stories/s, tokens/s, the model's GFLOP per story (counted from its config
and the real token counts: the linear layers plus attention), the GFLOP/s achieved, and the
machine's matmul GFLOP/s measured in the same process: bf16, fp32, int8 (fbgemm, as
embed/int8.py runs it) and torch._int_mm (which the runtime does not use) at the model's own
shapes ([tokens x 384] @ [384 x 384], @ [384 x 1536], [tokens x 1536] @ [1536 x 384], for
one 389-token pass and a 4,096-token batch) and at 2048^2. Utilisation is achieved GFLOP/s
over the bf16 peak, over the peak of the side's own precision, and over the best of the
three at the model's shapes. `padding_waste` is the token rows the model computes (counted
at the lean runtime's blocks, or at the attention calls) over the real tokens. The first
repeat of each side also profiles one whole encoding pass (torch.profiler, self time per
op, summed into matmul, attention, elementwise/GELU/LayerNorm, other, plus the wall time the
profiler does not see: Python and dispatch) and times tokenisation on its own. The ISA is
what oneDNN says it runs (ONEDNN_VERBOSE), torch's CPU capability and /proc/cpuinfo's flags.

    python scripts/bench_encode.py [--data ../shared/data/ntrex-dev/docs.jsonl] [--repeats 3]
        [--before REF] [--sides khabar,before,naive] [--threads N] [--batch-tokens N]
        [--no-profile]

A side may carry settings, so that levers are compared in one run: `khabar:t1` (one torch
thread), `khabar:b2048` (2,048 tokens a batch), `khabar:fp32` (a precision: fp32, bf16 or
int8, as KHABAR_PRECISION), `khabar:t1:fp32`, `before:t1`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ntrex-dev" / "docs.jsonl"
FLAGS = ("amx_bf16", "amx_int8", "amx_tile", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")


def isa() -> dict:
    """What the CPU has and what oneDNN and torch say they use."""
    import torch

    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            line = next((x for x in fh if x.startswith("flags")), "")
            flags = set(line.split(":", 1)[-1].split())
    except OSError:
        pass
    probe = (
        "import torch; a = torch.randn(389, 384).bfloat16(); "
        "torch.nn.functional.linear(a, torch.randn(1536, 384).bfloat16())"
    )
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env
    ).stdout
    onednn = next((x.split("isa:", 1)[1] for x in out.splitlines() if ",isa:" in x), None)
    kernel = next((x.split(",")[5] for x in out.splitlines() if ",exec,cpu,matmul," in x), None)
    return {
        "cpu_flags": {f: f in flags for f in FLAGS},
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_isa": onednn,
        "onednn_bf16_matmul_kernel": kernel,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def matmul_gflops(dtype_name: str, m: int, k: int, n: int, seconds: float = 0.3) -> float:
    """Best of repeated [m x k] @ [k x n] products. `int8`: fbgemm's u8 x s8 product with
    fp32 input and output, as embed/int8.py calls it (its per-token ranges aside);
    `int8_int_mm`: torch._int_mm, which the runtime does not use (a reference fallback on
    CPUs without AMX or VNNI: see the README)."""
    import torch

    if dtype_name == "int8_int_mm":
        a = torch.randint(-127, 127, (m, k), dtype=torch.int8)
        b = torch.randint(-127, 127, (k, n), dtype=torch.int8)

        def op():
            return torch._int_mm(a, b)
    elif dtype_name == "int8":
        from embed import int8

        x = torch.rand(m, k) * 2 - 1
        lin = int8.Int8Linear(torch.randn(n, k), torch.zeros(n))
        q = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32

        def op():
            return q(x, int8.SCALE, int8.ZERO_POINT, lin.packed)
    else:
        dtype = getattr(torch, dtype_name)
        a, b = torch.randn(m, k).to(dtype), torch.randn(n, k).to(dtype)

        def op():  # the runtime's own call: F.linear with weights [out x in]
            return torch.nn.functional.linear(a, b)

    op()
    best, spent, reps = float("inf"), 0.0, 0
    while spent < seconds or reps < 3:
        t = time.perf_counter()
        op()
        dt = time.perf_counter() - t
        best, spent, reps = min(best, dt), spent + dt, reps + 1
    return 2 * m * k * n / best / 1e9


def peaks(config: dict) -> dict:
    h, f = config["hidden_size"], config["intermediate_size"]
    shapes = {
        f"{t}x{a}@{a}x{b}": (t, a, b) for t in (389, 4096) for a, b in ((h, h), (h, f), (f, h))
    }
    shapes["2048^2"] = (2048, 2048, 2048)
    out: dict = {}
    for dtype in ("bfloat16", "float32", "int8", "int8_int_mm"):
        try:
            out[dtype] = {k: round(matmul_gflops(dtype, *s), 1) for k, s in shapes.items()}
        except (RuntimeError, NotImplementedError) as exc:
            out[dtype] = f"not measured: {exc}"[:200]
    return out


def model_gflop(tokens_per_text: list[int], config: dict) -> float:
    """Forward FLOPs: per layer 2*(4h^2 + 2hf) per token, plus attention 4*n^2*h per text."""
    h, f, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    linear = 2 * (4 * h * h + 2 * h * f)
    return sum(layers * (n * linear + 4 * n * n * h) for n in tokens_per_text) / 1e9


CATEGORIES = {
    "matmul": ("addmm", "mm", "bmm", "linear", "matmul", "mkldnn", "baddbmm"),
    "attention": ("scaled_dot_product", "flash_attention", "softmax"),
    "elementwise_gelu_layernorm": (
        "gelu", "layer_norm", "add", "mul", "div", "to", "copy", "clone", "index", "embedding",
        "mean", "sum", "norm", "cat", "empty", "fill", "zero", "ones", "full", "arange",
        "masked", "where", "clamp", "stack", "contiguous", "slice_scatter",
    ),
}  # fmt: skip


def category(op: str) -> str:
    name = op.removeprefix("aten::").lstrip("_")
    for cat, words in CATEGORIES.items():
        if any(name == w or name.startswith(w + "_") or w in name.split("_") for w in words):
            return cat
    return "other"


def breakdown(run, config_layers: int) -> dict:
    """One profiled pass: self time per op category, and the time torch's ops do not cover."""
    from torch.profiler import ProfilerActivity, profile

    t = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    wall = time.perf_counter() - t
    cats: dict[str, float] = {}
    ops: dict[str, float] = {}
    for e in prof.key_averages():
        cats[category(e.key)] = cats.get(category(e.key), 0.0) + e.self_cpu_time_total / 1e6
        ops[e.key] = e.self_cpu_time_total / 1e6
    seen = sum(cats.values())
    out = {k: round(v, 2) for k, v in sorted(cats.items())}
    out["python_dispatch_rest"] = round(wall - seen, 2)
    out["wall_profiled"] = round(wall, 2)
    out["top_ops"] = {k: round(v, 2) for k, v in sorted(ops.items(), key=lambda x: -x[1])[:8]}
    return out


def count_rows() -> tuple[list[int], object]:
    """Count the token rows the model computes: at the lean runtime's blocks (texts x padded
    length) or, for sentence-transformers, at its attention calls (divided by the layers)."""
    import torch

    from embed import bert

    rows = [0, 0]  # lean-runtime rows, attention rows (summed over layers)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    block = getattr(bert.BertEncoder, "_block", None)

    def counting(q, *args, **kwargs):
        rows[1] += q.shape[0] * q.shape[2]
        return sdpa(q, *args, **kwargs)

    def counting_block(self, ids, n, *args, **kwargs):
        rows[0] += len(ids) * n
        return block(self, ids, n, *args, **kwargs)

    torch.nn.functional.scaled_dot_product_attention = counting
    if block is not None:
        bert.BertEncoder._block = counting_block

    def restore() -> None:
        torch.nn.functional.scaled_dot_product_attention = sdpa
        if block is not None:
            bert.BertEncoder._block = block

    return rows, restore


def one(side: str, data: Path, profile_it: bool, threads: int, batch_tokens: int) -> dict:
    import torch

    from embed import model
    from khabar.prepare import model_input

    if threads:
        torch.set_num_threads(threads)
    docs = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    texts = [model_input(d.get("title") or "", d["text"]) for d in docs]
    _, folder = model.resolve()
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    extra: dict = {}
    if side in ("khabar", "before"):
        from embed import encoder as encmod

        runtime, info = model.runtime()
        kwargs = {"batch_tokens": batch_tokens} if batch_tokens else {}
        enc = encmod.Encoder(runtime, info, **kwargs)
        prompt = runtime.count(info.query_prompt)
        specials = runtime.special_tokens()
        pieces = [(c, n) for t in texts for c, n in enc.windows(t)]
        tokens = [n + prompt + specials for _, n in pieces]
        precision = enc.precision
        extra["encoding_tag"] = encmod.encoding_tag()
        extra["batch_tokens"] = getattr(enc, "batch_tokens", None)
        extra["batch_texts"] = getattr(enc, "batch_size", None)

        def run() -> None:
            enc.encode(texts)

        def tokenise() -> None:
            for t in texts:
                enc.windows(t)
            runtime.tokenizer.encode_batch([info.query_prompt + c for c, _ in pieces])
    else:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        tok = st.tokenizer
        tokens = [min(len(tok("query: " + t, verbose=False)["input_ids"]), 512) for t in texts]
        precision = "fp32"

        def run() -> None:
            st.encode(texts, prompt="query: ", batch_size=16, normalize_embeddings=True)

        def tokenise() -> None:
            tok(["query: " + t for t in texts], truncation=True, max_length=512)

    rows, restore = count_rows()
    t = time.perf_counter()
    run()
    seconds = time.perf_counter() - t
    restore()
    layers = config["num_hidden_layers"]
    gflop = model_gflop(tokens, config)
    peak = peaks(config)
    bf16 = peak["bfloat16"]
    shapes = [v for k, v in bf16.items() if k != "2048^2"] if isinstance(bf16, dict) else []

    def model_peak(dtype: str) -> float | None:
        got = peak.get(dtype)
        return max(v for k, v in got.items() if k != "2048^2") if isinstance(got, dict) else None

    own = model_peak({"bf16": "bfloat16", "fp32": "float32", "int8": "int8"}[precision])
    best = max(p for p in map(model_peak, ("bfloat16", "float32", "int8")) if p)
    out = {
        "precision": precision,
        "stories": len(texts),
        "seconds": round(seconds, 2),
        "stories_per_s": round(len(texts) / seconds, 2),
        "tokens_per_s": round(sum(tokens) / seconds),
        "gflop_per_story": round(gflop / len(texts), 2),
        "achieved_gflops": round(gflop / seconds, 1),
        "padding_waste": round((rows[0] or rows[1] / layers) / sum(tokens), 3)
        if any(rows)
        else None,
        "bf16_peak_2048": bf16.get("2048^2") if isinstance(bf16, dict) else None,
        "bf16_peak_model_shapes": max(shapes) if shapes else None,
        "utilisation_vs_bf16_2048": round(gflop / seconds / bf16["2048^2"], 3),
        "utilisation_vs_bf16_model_shapes": round(gflop / seconds / max(shapes), 3),
        # Against the peak of the precision the side runs (its linear layers'), and against
        # the machine's best matmul at the model's shapes (whatever precision has it).
        "own_peak_model_shapes": own,
        "utilisation_vs_own_peak": round(gflop / seconds / own, 3) if own else None,
        "best_peak_model_shapes": best,
        "utilisation_vs_best_peak": round(gflop / seconds / best, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "matmul_gflops": peak,
        **extra,
    }
    if profile_it:
        t = time.perf_counter()
        tokenise()
        out["breakdown_s"] = {"tokenisation": round(time.perf_counter() - t, 2)}
        out["breakdown_s"] |= breakdown(run, layers)
        out["isa"] = isa()
    return out


def parse_side(spec: str, threads: int, batch_tokens: int) -> tuple[str, int, int]:
    """`khabar:t1:b2048` -> ("khabar", 1, 2048); unset settings keep the given defaults."""
    base, *settings = spec.split(":")
    if base not in ("khabar", "before", "naive"):
        raise SystemExit(f"unknown side {spec!r}")
    for x in settings:
        if x in ("fp32", "bf16", "int8"):
            os.environ["KHABAR_PRECISION"] = x  # read by embed.model.runtime in this process
        elif x[:1] == "t" and x[1:].isdigit():
            threads = int(x[1:])
        elif x[:1] == "b" and x[1:].isdigit():
            batch_tokens = int(x[1:])
        else:
            raise SystemExit(f"unknown setting {x!r} in side {spec!r}")
    return base, threads, batch_tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--before", help="git ref to measure as the `before` side")
    ap.add_argument("--sides", help="comma-separated: khabar, before, naive (default: all given)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--batch-tokens", type=int, default=0, help="this checkout's batch size")
    ap.add_argument("--no-profile", action="store_true", help="skip the per-op breakdown")
    ap.add_argument("--side", help=argparse.SUPPRESS)
    ap.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.side:  # one measurement, in this process, with the code under the current dir
        sys.path.insert(0, os.getcwd())
        base, threads, bt = parse_side(args.side, args.threads, args.batch_tokens)
        bt = bt if base == "khabar" else 0
        print(json.dumps(one(base, args.data, args.profile, threads, bt) | {"side": args.side}))
        return
    sides = args.sides.split(",") if args.sides else ["khabar", "naive"]
    if args.before and not args.sides:
        sides = ["khabar", "before", "naive"]
    if any(parse_side(x, 0, 0)[0] == "before" for x in sides) and not args.before:
        ap.error("the before side needs --before REF")
    runs: dict[str, list[dict]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory(prefix="bench-encode-") as tmp:
        wt = Path(tmp) / "before"
        if args.before:
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(wt), args.before],
                cwd=ROOT, check=True, capture_output=True,
            )  # fmt: skip
        try:
            for i in range(args.repeats):
                for side in sides if i % 2 == 0 else sides[::-1]:
                    cmd = [sys.executable, str(ROOT / "scripts" / "bench_encode.py")]
                    cmd += ["--side", side, "--data", str(args.data.resolve())]
                    cmd += ["--threads", str(args.threads)]
                    cmd += ["--batch-tokens", str(args.batch_tokens)]
                    cmd += ["--profile"] if i == 0 and not args.no_profile else []
                    cwd = wt if parse_side(side, 0, 0)[0] == "before" else ROOT
                    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
                    if proc.returncode:
                        sys.exit(f"{side} failed:\n{proc.stderr[-3000:]}")
                    runs[side].append(json.loads(proc.stdout))
                    print(side, proc.stdout.strip(), file=sys.stderr, flush=True)
        finally:
            if args.before:
                subprocess.run(["git", "worktree", "remove", "--force", str(wt)], cwd=ROOT)
    result: dict = {"before_ref": args.before} if args.before else {}
    for side, rows in runs.items():
        keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and v is not None]
        result[side] = {"precision": rows[0]["precision"], "repeats": len(rows)}
        result[side] |= {k: statistics.median(r[k] for r in rows) for k in keys}
        result[side]["seconds_each"] = [r["seconds"] for r in rows]
        for k in ("encoding_tag", "breakdown_s", "isa", "matmul_gflops"):
            if k in rows[0]:
                result[side][k] = rows[0][k]
    # Ratios per repeat (the sides of one repeat ran back to back), then their median.
    for a in sides:
        for b in sides:
            if a != b and not a.startswith("naive"):
                ratios = [
                    y["seconds"] / x["seconds"] for x, y in zip(runs[a], runs[b], strict=True)
                ]
                result[f"speedup_{a}_vs_{b}"] = round(statistics.median(ratios), 3)
                result[f"speedup_{a}_vs_{b}_each"] = [round(r, 3) for r in ratios]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
