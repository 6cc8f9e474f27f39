"""Whole-process latency of the analyst's commands: `khabar similar --id` and `similar TEXT`.

Builds a home from the given stories with `khabar nightly` (not timed), then runs each command
`--runs` times as a fresh process, interleaved, and prints the medians and every run as JSON.

    python scripts/bench_cli.py [--data ../shared/data/ntrex-dev/docs.jsonl] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ntrex-dev" / "docs.jsonl"
QUERY = "سخنگوی کرملین امروز اعلام کرد تماس‌ها بین روسیه و آذربایجان مختل نشده است"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    first = json.loads(args.data.read_text(encoding="utf-8").splitlines()[0])["id"]
    with tempfile.TemporaryDirectory(prefix="khabar-cli-") as tmp:
        base = [sys.executable, "-m", "khabar.cli", "--home", str(Path(tmp) / "home")]
        subprocess.run([*base, "nightly", str(args.data)], check=True, capture_output=True)
        commands = {
            "similar_id": [*base, "similar", "--id", str(first)],
            "similar_text": [*base, "similar", QUERY],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                t = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                times[name].append(round(time.perf_counter() - t, 3))
    print(
        json.dumps(
            {
                "stories": sum(1 for _ in args.data.open(encoding="utf-8")),
                **{f"{k}_median_s": statistics.median(v) for k, v in times.items()},
                "runs": times,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
