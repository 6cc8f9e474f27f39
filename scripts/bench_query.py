"""Query latency at 10k, 100k and 1M stored vectors: khabar's flat index against IVF.

Synthetic vectors (clustered: 384-d, 2,000 random centres with noise, L2-normalised) stand in
for stories; queries are stored vectors with fresh noise. For each size: the time to load
the saved index (what a CLI process pays before its first search), single-query search
p50/p95 (`VectorIndex.search`, as `similar` calls it) on the loaded copy, and for the IVF
(khabar's own, as built above FLAT_MAX) the same plus recall@10 against the exact flat
answer. Prints JSON.

    python scripts/bench_query.py [--sizes 10000,100000,1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def vectors(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((2000, d)).astype(np.float32)
    x = centres[rng.integers(0, 2000, n)] + 0.6 * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(xs, q)) * 1000, 2)


def timed_search(search, queries: np.ndarray) -> tuple[list[float], list[np.ndarray]]:
    times, ids = [], []
    for q in queries:
        t = time.perf_counter()
        _, i = search(q[None, :])
        times.append(time.perf_counter() - t)
        ids.append(i[0])
    return times, ids


def measure(kind: str, x: np.ndarray, queries: np.ndarray, k: int) -> tuple[dict, list]:
    """Build khabar's index of `kind`, save it, load it as a reader does (three times), and
    time single queries on the loaded copy."""
    from embed.index import NPROBE, VectorIndex

    with tempfile.TemporaryDirectory() as tmp:
        index = VectorIndex(x.shape[1])
        t = time.perf_counter()
        index.fill(np.arange(len(x), dtype=np.int64), x, kind=kind)
        build = time.perf_counter() - t
        index.save(Path(tmp))
        size_mb = (Path(tmp) / "index.faiss").stat().st_size / 2**20
        loads = []
        for _ in range(3):
            t = time.perf_counter()
            index = VectorIndex.load(Path(tmp))
            loads.append(time.perf_counter() - t)
        times, ids = timed_search(lambda q: index.search(q, k), queries)
    row = {
        "file_mib": round(size_mb, 1),
        "build_s": round(build, 1),
        "load_s_median": round(statistics.median(loads), 3),
        "search_ms_p50": pct(times, 50),
        "search_ms_p95": pct(times, 95),
    }
    if kind == "ivf":
        row |= {"nlist": int(index.index.nlist), "nprobe": NPROBE}
    return row, ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    d, k = 384, 10
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        x = vectors(n, d, rng)
        picks = rng.integers(0, n, args.queries)
        queries = x[picks] + 0.05 * rng.standard_normal((args.queries, d)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        flat, exact = measure("flat", x, queries, k)
        ivf, approx = measure("ivf", x, queries, k)
        pairs = zip(approx, exact, strict=True)
        ivf["recall_at_10"] = round(statistics.mean(len(set(a) & set(e)) / k for a, e in pairs), 4)
        rows.append({"vectors": n, "flat": flat, "ivf": ivf})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        del x
    print(json.dumps({"dimension": d, "k": k, "queries": args.queries, "sizes": rows}, indent=1))


if __name__ == "__main__":
    main()
