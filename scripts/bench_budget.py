"""How many tokens of each story the encoder needs: quality and cost per token budget.

For each budget (and the full text in windows), runs `khabar eval` on NTREX dev (events
B-cubed F1, duplicate F1) and times the encoding of every document, in one process so the
timings are comparable. Prints one JSON object. Used to choose `embed.encoder.TOKEN_BUDGET`.

    python scripts/bench_budget.py [--data FILE] [--budgets 64,128,256,384,full]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "ntrex-dev" / "docs.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--budgets", default="64,128,256,384,full")
    ap.add_argument("--precision", default="auto")
    args = ap.parse_args()

    from embed import encoder as enc_mod
    from embed import model
    from khabar.evaluate import evaluate
    from khabar.prepare import model_input

    m, info = model.runtime(precision=args.precision)
    docs = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines()]
    texts = [model_input(d.get("title") or "", d["text"]) for d in docs]
    rows = []
    for spec in args.budgets.split(","):
        budget = None if spec == "full" else int(spec)
        enc_mod.TOKEN_BUDGET = budget  # read by Encoder() and by the cache key in prepare

        def factory(budget=budget):
            return enc_mod.Encoder(m, info, token_budget=budget)

        encoder = factory()
        tokens = sum(n for t in texts for _, n in encoder.windows(t))
        encoder.encode(texts[:8])  # warm-up
        t0 = time.perf_counter()
        encoder.encode(texts)
        seconds = time.perf_counter() - t0
        result = evaluate(args.data, factory, model.DEFAULT_MODEL, "2019-06-01")
        rows.append(
            {
                "budget": spec,
                "precision": encoder.precision,
                "tokens": tokens,
                "encode_seconds": round(seconds, 2),
                "stories_per_s": round(len(texts) / seconds, 2),
                "events_bcubed_f1": round(result["events"]["bcubed_f1"], 4),
                "duplicates_f1": round(result["duplicates"]["f1"], 4),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"data": str(args.data), "stories": len(texts), "budgets": rows}, indent=1))


if __name__ == "__main__":
    main()
