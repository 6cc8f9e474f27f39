"""Encoding speed against the machine's own limit, and against the naive peer, in one run.

Prints JSON: for khabar's encoder (token budget, lean runtime, bf16 where the CPU has it) and
for the naive peer (sentence-transformers fp32, `query: ` prompt, batch 16, cut at 512
tokens): stories/s, tokens/s, the model's GFLOP per story (counted from its config and the
real token counts: the linear layers plus attention), the GFLOP/s achieved, and the machine's
matmul GFLOP/s in fp32 and bf16 measured in the same process, so utilisation is a ratio of
two measurements. Each side runs in its own process (for its own peak RSS) `--repeats` times,
alternating; medians are reported.

    python scripts/bench_encode.py [--data ../shared/data/ntrex-dev/docs.jsonl] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "ntrex-dev" / "docs.jsonl"


def matmul_gflops(dtype_name: str, n: int = 2048, reps: int = 5) -> float:
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def model_gflop(tokens_per_text: list[int], config: dict) -> float:
    """Forward FLOPs: per layer 2*(4h^2 + 2hf) per token, plus attention 4*n^2*h per text."""
    h, f, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    linear = 2 * (4 * h * h + 2 * h * f)
    return sum(layers * (n * linear + 4 * n * n * h) for n in tokens_per_text) / 1e9


def one(side: str, data: Path) -> dict:
    from embed import model
    from khabar.prepare import model_input

    docs = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    texts = [model_input(d.get("title") or "", d["text"]) for d in docs]
    _, folder = model.resolve()
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if side == "khabar":
        from embed.encoder import Encoder

        runtime, info = model.runtime()
        enc = Encoder(runtime, info)
        prompt = runtime.count(info.query_prompt)
        specials = runtime.special_tokens()
        tokens = [n + prompt + specials for t in texts for _, n in enc.windows(t)]
        precision = enc.precision

        def run() -> None:
            enc.encode(texts)
    else:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        tok = st.tokenizer
        tokens = [min(len(tok("query: " + t, verbose=False)["input_ids"]), 512) for t in texts]
        precision = "fp32"

        def run() -> None:
            st.encode(texts, prompt="query: ", batch_size=16, normalize_embeddings=True)

    t = time.perf_counter()
    run()
    seconds = time.perf_counter() - t
    gflop = model_gflop(tokens, config)
    peak = matmul_gflops("bfloat16" if precision == "bf16" else "float32")
    return {
        "precision": precision,
        "stories": len(texts),
        "seconds": round(seconds, 2),
        "stories_per_s": round(len(texts) / seconds, 2),
        "tokens_per_s": round(sum(tokens) / seconds),
        "gflop_per_story": round(gflop / len(texts), 2),
        "achieved_gflops": round(gflop / seconds, 1),
        "matmul_peak_gflops": round(peak, 1),
        "utilisation": round(gflop / seconds / peak, 3),
        "matmul_fp32_gflops": round(matmul_gflops("float32"), 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--side", choices=["khabar", "naive"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.side:
        print(json.dumps(one(args.side, args.data)))
        return
    runs: dict[str, list[dict]] = {"khabar": [], "naive": []}
    for i in range(args.repeats):
        for side in ("khabar", "naive") if i % 2 == 0 else ("naive", "khabar"):
            cmd = [sys.executable, __file__, "--side", side, "--data", str(args.data)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            runs[side].append(json.loads(out))
            print(side, out.strip(), file=sys.stderr, flush=True)
    result = {}
    for side, rows in runs.items():
        keys = [k for k, v in rows[0].items() if isinstance(v, (int, float))]
        result[side] = {"precision": rows[0]["precision"]}
        result[side] |= {k: statistics.median(r[k] for r in rows) for k in keys}
    result["speedup_stories_per_s"] = round(
        result["khabar"]["stories_per_s"] / result["naive"]["stories_per_s"], 2
    )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
