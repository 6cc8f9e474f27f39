"""The fold alone (duplicates and events, `Clustering.run`) on a large night, against the
code at a git ref, with the decisions compared table by table.

Why: on a 20,000-story night the fold is as long as the model (`bench_nightly.py
--synthetic`), and a change to it must leave every decision as it was. This ingests N
synthetic stories once (`khabar ingest`: stored and embedded, not folded), then folds copies
of that home in alternating processes, the code here and the code at REF (a temporary
worktree), and reports each fold's wall and CPU seconds, the medians of the per-round
ratios, and whether the two folded homes hold the same events, event scores, evidence and
duplicate links.

    python scripts/bench_fold.py [--synthetic 20000] [--rounds 3] [--before REF]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_nightly import ROOT, khabar_cmd, synthetic, worktree  # noqa: E402

# Run in a fresh process with the code at argv[1] first on the path: fold a home, print
# the wall and CPU seconds (the process's CPU time, steadier on a shared machine). Only
# that tree's modules are imported (checked), so REF runs its own code.
FOLD = """
import sys, time
sys.path.insert(0, sys.argv[1])
import cluster, khabar
from pathlib import Path
for module in (cluster, khabar):
    assert Path(module.__file__).resolve().is_relative_to(Path(sys.argv[1]).resolve())
from cluster import calibration
from khabar.clustering import Clustering
from khabar.store import Store
store = Store(Path(sys.argv[2]), create=False)
detector, clusterer = calibration.build(None)
t, c = time.perf_counter(), time.process_time()
Clustering(store, detector, clusterer).run()
print(time.perf_counter() - t, time.process_time() - c)
store.close()
"""

# Columns that hold the decisions (wall-clock columns left out).
DECISIONS = {
    "stories": (
        "id, event_id, duplicate_of, duplicate_kind, duplicate_score, duplicate_evidence, "
        "event_score, event_evidence"
    ),
    "events": "id",
}


def fold(tree: Path, ingested: Path, home: Path) -> tuple[float, float]:
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(ingested, home)
    out = subprocess.run(
        [sys.executable, "-c", FOLD, str(tree), str(home)],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def decisions(home: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(home / "khabar.db") as db:
        return {
            table: db.execute(f"SELECT {cols} FROM {table} ORDER BY id").fetchall()
            for table, cols in DECISIONS.items()
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--synthetic", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", default="HEAD", help="git ref to compare with")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="khabar-fold-") as tmp:
        tmp = Path(tmp)
        stories, ingested = tmp / "stories.jsonl", tmp / "ingested"
        synthetic(args.synthetic, stories)
        print(f"ingesting {args.synthetic} stories (embedding them once)", file=sys.stderr)
        subprocess.run(
            khabar_cmd("--home", str(ingested), "ingest", "--json", str(stories)),
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wt = tmp / "code-before"
        rounds = []
        with worktree(args.before, wt):
            for i in range(args.rounds):
                sides = [("after", ROOT), ("before", wt)]
                row = {}
                for side, tree in sides if i % 2 == 0 else sides[::-1]:
                    wall, cpu = fold(tree, ingested, tmp / f"home-{side}")
                    row[side], row[side + "_cpu"] = round(wall, 2), round(cpu, 2)
                row["ratio"] = round(row["after"] / row["before"], 3)
                row["cpu_ratio"] = round(row["after_cpu"] / row["before_cpu"], 3)
                rounds.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        after, before = decisions(tmp / "home-after"), decisions(tmp / "home-before")
        same = {t: after[t] == before[t] for t in DECISIONS}
        print(json.dumps({
            "stories": args.synthetic,
            "before_ref": args.before,
            "rounds": rounds,
            "median_seconds": {
                side: statistics.median(r[side] for r in rounds) for side in ("after", "before")
            },
            "median_ratio": statistics.median(r["ratio"] for r in rounds),
            "median_cpu_ratio": statistics.median(r["cpu_ratio"] for r in rounds),
            "same_decisions": same,
            "rows": {t: len(after[t]) for t in DECISIONS},
        }, indent=1))  # fmt: skip
        if not all(same.values()):
            sys.exit(1)


if __name__ == "__main__":
    main()
