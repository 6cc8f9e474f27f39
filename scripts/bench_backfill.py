"""A backfill against the nightly job on this machine, and what it projects for an archive.

Builds N real stories over D days (NTREX documents, ANS and ExaPPC sentences, cycled with
new ids as scripts/bench_nightly.py does), one file per day, and times, whole process
against whole process, on fresh homes:

  nightly   `khabar nightly DAY` once per day (the model loaded every night);
  local     `khabar backfill --executor local`;
  ray-1     `khabar backfill --executor ray --workers 1` (a local Ray, 1 CPU);
  ray-2     the same with 2 workers.

It reports stories/s for each, each backfill's seconds per stage (from its own summary),
and the fold's cost per story. The projection for 10M stories on 10 and 100 workers uses
only those figures: the parallel stages (read, embed, candidates) at the ray-1 rate per
worker, divided by the workers (linear scaling assumed, and said), plus the sequential
stages (store and fold) at this machine's per-story cost, which no worker count shortens.

    python scripts/bench_backfill.py [--n 1200] [--days 10] [--rounds 3] [--json out.json]

With several rounds every figure is the median of the rounds (each round runs the four
routes one after another on fresh homes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_index import isa  # noqa: E402
from bench_nightly import synthetic  # noqa: E402

KHABAR = str(Path(sys.executable).with_name("khabar"))
PARALLEL = ("read", "embed", "candidates")
SEQUENTIAL = ("store", "fold")


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    import subprocess

    done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0, done.stdout


def split_days(source: Path, days: int, dest: Path) -> list[Path]:
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    files = []
    for d in range(days):
        path = dest / f"day{d + 1:02d}.jsonl"
        part = rows[d::days]
        for r in part:
            r["published_at"] = f"2024-03-{d + 1:02d}"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part))
        files.append(path)
    return files


def project(n: int, stage_rate: dict[str, float], per_story: dict[str, float], workers: int):
    parallel = sum(n / (stage_rate[s] * workers) for s in PARALLEL if stage_rate.get(s))
    sequential = sum(n * per_story[s] for s in SEQUENTIAL)
    return {
        "workers": workers,
        "parallel_hours": round(parallel / 3600, 2),
        "sequential_hours": round(sequential / 3600, 2),
        "total_hours": round((parallel + sequential) / 3600, 2),
    }


def one_round(args: argparse.Namespace) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthetic(args.n, root / "all.jsonl")
        files = [str(p) for p in split_days(root / "all.jsonl", args.days, root)]
        runs: dict[str, dict] = {}
        t = 0.0
        for f in files:
            dt, _ = timed([KHABAR, "--home", str(root / "nightly"), "nightly", f])
            t += dt
        runs["nightly"] = {"seconds": round(t, 2)}
        for name, extra in (
            ("local", ["--executor", "local"]),
            ("ray-1", ["--executor", "ray", "--workers", "1"]),
            ("ray-2", ["--executor", "ray", "--workers", "2"]),
        ):
            home = root / name
            dt, stdout = timed([KHABAR, "--home", str(home), "backfill", *extra, "--json", *files])
            summary = json.loads(stdout)
            runs[name] = {"seconds": round(dt, 2), "stages": summary["seconds"]}
            print(f"{name}: {dt:.1f} s, stages {summary['seconds']}", file=sys.stderr)
        return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    out: dict = {"isa": isa(), "cpus": os.cpu_count(), "stories": args.n, "days": args.days}
    rounds = [one_round(args) for _ in range(args.rounds)]
    out["rounds"] = rounds
    runs = {
        name: {
            "seconds": statistics.median(r[name]["seconds"] for r in rounds),
            **(
                {
                    "stages": {
                        s: statistics.median(r[name]["stages"][s] for r in rounds)
                        for s in rounds[0][name]["stages"]
                    }
                }
                if "stages" in rounds[0][name]
                else {}
            ),
        }
        for name in rounds[0]
    }
    for r in runs.values():
        r["stories_per_s"] = round(args.n / r["seconds"], 2)
    out["runs"] = runs
    # Speed-up over nightly-per-day, per round (both sides share the round), then the median.
    out["speedup_vs_nightly"] = {
        k: round(statistics.median(r["nightly"]["seconds"] / r[k]["seconds"] for r in rounds), 3)
        for k in runs
    }
    local = runs["local"]["stages"]
    per_story = {s: local[s] / args.n for s in SEQUENTIAL}
    out["fold_ms_per_story"] = round(1000 * per_story["fold"], 3)
    out["store_ms_per_story"] = round(1000 * per_story["store"], 3)
    one = runs["ray-1"]["stages"]
    rate = {s: args.n / one[s] for s in PARALLEL if one.get(s)}
    out["ray1_stage_stories_per_s"] = {k: round(v, 2) for k, v in rate.items()}
    out["projection_10M"] = [project(10_000_000, rate, per_story, w) for w in (10, 100)]
    out["assumptions"] = (
        "parallel stages scale linearly at the ray-1 per-worker rate (one CPU each); "
        "store and fold run on one machine at this run's per-story cost; the index "
        "build at 10M (scripts/bench_index.py) and Ray's start-up are not included"
    )
    text = json.dumps(out, indent=2)
    medians = {k: (v["seconds"], v["stories_per_s"]) for k, v in runs.items()}
    print(f"median of {args.rounds} round(s): {medians}", file=sys.stderr)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
