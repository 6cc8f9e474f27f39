"""The index at archive scale: IVF-Flat ("ivf") against IVF-PQ with exact re-scoring
("ivfpq") at 1M and 10M synthetic vectors.

Vectors: clustered unit vectors in 384-d, generated in chunks with a fixed seed into a float16
memmap on disk (never all in RAM): 1,000 topics, N/100 clusters (at least 20k, at most 100k)
around them, each cluster with its own spread so that near neighbours' cosines are ~0.8-0.95
as between related news stories (the JSON reports the measured percentiles). Queries are
perturbed copies of stored vectors; the ground truth is a brute-force scan of the memmap in
chunks. For each size and each kind that fits, a child process (so memory is its own)
builds khabar's VectorIndex from the memmap (`fill`: train + add), saves it, and a fresh
mapped reader (as the CLI loads it) answers single queries with k=10 (then the same queries
once more, with what the first pass read now in the page cache): build time, the
writer's anonymous memory (RssAnon) after building, file sizes, load time, the reader's
memory, recall@10 and p50/p95 latency. IVF-Flat is not run where it would need more than
`--max-ram-gib` (it holds N * (4*384 + 8) bytes). Prints one JSON object.

    nice -n 10 python scripts/bench_index.py [--sizes 1000000,10000000] [--queries 200]
        [--kinds ivf,ivfpq] [--workdir DIR] [--max-ram-gib 8]

FAISS's OpenMP threads spin while they wait; on a machine other jobs share, that made
training a small IVF-PQ 8x slower with 2 threads than with 1 (22 s against 2.8 s), so
children run with OMP_WAIT_POLICY=PASSIVE
unless the environment sets it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_query import pct, timed_search  # noqa: E402

D, K, SEED, TOPICS, CHUNK = 384, 10, 0, 1000, 200_000
BYTES_PER_VECTOR = {"ivf": 4 * D + 8, "ivfpq": 48 + 8}


def clusters_for(n: int) -> int:
    return int(np.clip(n // 100, 20_000, 100_000))


def centres(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([SEED, n])
    topic = rng.standard_normal((TOPICS, D)).astype(np.float32)
    topic /= np.linalg.norm(topic, axis=1, keepdims=True)
    c = clusters_for(n)
    centre = topic[rng.integers(0, TOPICS, c)]
    centre += rng.standard_normal((c, D)).astype(np.float32) / np.sqrt(D)
    centre /= np.linalg.norm(centre, axis=1, keepdims=True)
    return centre, rng.uniform(0.23, 0.5, c).astype(np.float32)


def generate(path: Path, n: int) -> np.memmap:
    """The n vectors as a float16 memmap at `path`, made once (chunk by chunk, seeded per
    chunk, so the same n always gives the same vectors)."""
    if path.is_file() and path.stat().st_size == n * D * 2:
        return np.memmap(path, np.float16, "r", shape=(n, D))
    centre, spread = centres(n)
    tmp = path.with_suffix(".tmp")
    out = np.memmap(tmp, np.float16, "w+", shape=(n, D))
    for i, a in enumerate(range(0, n, CHUNK)):
        rng = np.random.default_rng([SEED, n, i])
        m = min(CHUNK, n - a)
        c = rng.integers(0, len(centre), m)
        x = rng.standard_normal((m, D), dtype=np.float32)
        x *= spread[c, None] / np.sqrt(D)
        x += centre[c]
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[a : a + m] = x
    out.flush()
    del out
    os.replace(tmp, path)
    return np.memmap(path, np.float16, "r", shape=(n, D))


def queries_and_truth(x: np.memmap, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Perturbed copies of stored vectors, and their exact top-k (ids, cosines) by a chunked
    brute-force scan."""
    n = len(x)
    rng = np.random.default_rng([SEED, n, 10**6])
    picks = rng.integers(0, n, count)
    q = x[np.sort(picks)].astype(np.float32)
    q += 0.2 * rng.standard_normal(q.shape, dtype=np.float32) / np.sqrt(D)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    best_s = np.full((count, K), -np.inf, dtype=np.float32)
    best_i = np.full((count, K), -1, dtype=np.int64)
    for a in range(0, n, CHUNK):
        s = q @ np.asarray(x[a : a + CHUNK], dtype=np.float32).T
        top = np.argpartition(-s, K - 1, axis=1)[:, :K]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, top, 1)], axis=1)
        cand_i = np.concatenate([best_i, top + a], axis=1)
        keep = np.argsort(-cand_s, axis=1, kind="stable")[:, :K]
        best_s, best_i = np.take_along_axis(cand_s, keep, 1), np.take_along_axis(cand_i, keep, 1)
    return q, best_i, best_s


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def child(n: int, kind: str, workdir: Path) -> dict:
    """Build, save, map and query one index; runs in its own process."""
    import faiss

    from embed.index import INDEX_FILE, NPROBE, PQ_M, RERANK_MIN, VectorIndex

    x = np.memmap(workdir / f"vectors-{n}.f16", np.float16, "r", shape=(n, D))
    q = np.load(workdir / f"queries-{n}.npy", allow_pickle=False)
    truth = np.load(workdir / f"truth-{n}.npy", allow_pickle=False)
    folder = workdir / f"index-{n}-{kind}"
    anon0 = status_kib("RssAnon")
    index = VectorIndex(D)
    t = time.perf_counter()
    index.fill(np.arange(n, dtype=np.int64), x, kind=kind)
    build = time.perf_counter() - t
    writer_anon = status_kib("RssAnon") - anon0
    row: dict = {
        "build_s": round(build, 1),
        "writer_index_anon_mib": mib(writer_anon),
        "nlist": int(index.index.nlist),
        "nprobe": NPROBE,
    }
    if kind == "ivfpq":
        row |= {"pq_m": PQ_M, "rerank_candidates_k10": RERANK_MIN}
    t = time.perf_counter()
    index.save(folder)
    row["save_s"] = round(time.perf_counter() - t, 1)
    row["peak_rss_mib_incl_mapped"] = mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    del index
    row["index_file_mib"] = round((folder / INDEX_FILE).stat().st_size / 2**20, 1)
    rows = list(folder.glob("index-*.rows"))
    if rows:
        row["rows_file_mib"] = round(rows[0].stat().st_size / 2**20, 1)
    anon0, file0 = status_kib("RssAnon"), status_kib("RssFile")
    t = time.perf_counter()
    reader = VectorIndex.load(folder)
    row["load_s"] = round(time.perf_counter() - t, 3)
    row["reader_anon_mib_after_load"] = mib(status_kib("RssAnon") - anon0)
    times, ids = timed_search(lambda v: reader.search(v, K), q)
    warm, _ = timed_search(lambda v: reader.search(v, K), q)  # the same queries again
    row |= {
        "query_ms_p50_second_pass": pct(warm, 50),
        "query_ms_p95_second_pass": pct(warm, 95),
        "recall_at_10": round(
            float(np.mean([len(set(a) & set(e)) / K for a, e in zip(ids, truth, strict=True)])), 4
        ),
        "query_ms_p50": pct(times, 50),
        "query_ms_p95": pct(times, 95),
        "query_ms_max": pct(times, 100),
        "reader_anon_mib_after_queries": mib(status_kib("RssAnon") - anon0),
        # file pages the reader has mapped (page cache, shared; FAISS and the kernel's
        # fault-around map neighbours of what is read), meaningless once pages are evicted
        "reader_mapped_mib_touched": mib(status_kib("RssFile") - file0),
    }
    if kind == "ivfpq":  # how far PQ scores are from exact ones (RANGE_MARGIN's basis)
        approx, cand = reader.index.search(np.ascontiguousarray(q[:50]), 10)
        exact = np.stack([reader.rows.get(c) @ v for c, v in zip(cand, q[:50], strict=True)])
        err = np.abs(approx - exact)
        row["pq_score_abs_error_p99"] = round(float(np.percentile(err, 99)), 4)
        row["pq_score_abs_error_max"] = round(float(err.max()), 4)
    row["faiss_threads"] = faiss.omp_get_max_threads()
    return row


def isa() -> str:
    try:
        import torch

        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # no torch: the CPU flags
        flags = next(
            (ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "flags" in ln), ""
        )
        return ",".join(f for f in ("avx2", "avx512f", "avx512_vnni") if f in flags.split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--kinds", default="ivf,ivfpq")
    ap.add_argument("--workdir", type=Path, default=None, help="for the vectors (2 B * 384 * N)")
    ap.add_argument("--max-ram-gib", type=float, default=8.0)
    ap.add_argument("--keep", action="store_true", help="keep the built index folders")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        n, kind, workdir = args.child
        print(json.dumps(child(int(n), kind, Path(workdir))))
        return

    import faiss

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-index-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    out: dict = {
        "dimension": D,
        "k": K,
        "queries": args.queries,
        "isa": isa(),
        "faiss": faiss.__version__,
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "niceness": os.nice(0),
        "omp_wait_policy": env["OMP_WAIT_POLICY"],
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "sizes": [],
    }
    for n in (int(s) for s in args.sizes.split(",")):
        t = time.perf_counter()
        x = generate(workdir / f"vectors-{n}.f16", n)
        gen_s = time.perf_counter() - t
        t = time.perf_counter()
        q, truth, truth_s = queries_and_truth(x, args.queries)
        truth_time = time.perf_counter() - t
        np.save(workdir / f"queries-{n}.npy", q)
        np.save(workdir / f"truth-{n}.npy", truth)
        size: dict = {
            "vectors": n,
            "clusters": clusters_for(n),
            "generate_s": round(gen_s, 1),
            "ground_truth_s": round(truth_time, 1),
            # the query's own source is first (~0.98); the 2nd and 10th are its neighbours
            "cosine_2nd_p10_p50_p90": np.percentile(truth_s[:, 1], [10, 50, 90]).round(3).tolist(),
            "cosine_10th_p10_p50_p90": np.percentile(truth_s[:, 9], [10, 50, 90]).round(3).tolist(),
        }
        for kind in args.kinds.split(","):
            need = n * BYTES_PER_VECTOR[kind] / 2**30
            if need > args.max_ram_gib:
                size[kind] = {
                    "not_run": f"a writer would hold {n:,} x {BYTES_PER_VECTOR[kind]} B = "
                    f"{need:.1f} GiB, over --max-ram-gib {args.max_ram_gib:g}"
                }
                continue
            t = time.perf_counter()
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(n), kind, str(workdir)],
                env=env,
                capture_output=True,
                text=True,
            )
            if done.returncode:
                size[kind] = {"failed": done.stderr.strip().splitlines()[-1:]}
            else:
                size[kind] = json.loads(done.stdout.strip().splitlines()[-1])
                size[kind]["child_wall_s"] = round(time.perf_counter() - t, 1)
            print(json.dumps({"vectors": n, kind: size[kind]}), file=sys.stderr, flush=True)
            if not args.keep:
                for f in (workdir / f"index-{n}-{kind}").glob("*"):
                    f.unlink()
        out["sizes"].append(size)
        del x
    out["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
