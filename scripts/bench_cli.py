"""Whole-process latency of the analyst's commands: `khabar similar --id` and `similar TEXT`.

Builds a home from the given stories with `khabar nightly` (not timed), then runs each command
`--runs` times as a fresh process, interleaved, and prints the medians and every run as JSON.

With `--total N` the home is then grown to N stories before timing: copies of the real stories
under new ids, each with its real vector plus noise (about cosine 0.9 to it), written straight
into the database, and the index rebuilt by `khabar reindex` (timed; at N above
embed.index.FLAT_MAX it is an IVF). That is the million-story case without embedding a
million texts.

    python scripts/bench_cli.py [--data ../shared/data/ntrex-dev/docs.jsonl] [--runs 7]
        [--total 1000000]
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


def grow(home: Path, total: int) -> None:
    """Add synthetic stories (see the module docstring) until the home holds `total`."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from khabar.store import Store

    store = Store(home)
    rng = np.random.default_rng(0)
    cols = "id vid lang title text raw_text content_hash input_hash embed_key published_at "
    cols += "ingested_at updated_at metadata"
    names = cols.split()
    real = store.db.execute(
        "SELECT s.vid, s.lang, s.title, s.text, s.published_at, s.ingested_at, v.vector "
        "FROM stories s JOIN vectors v USING(embed_key)"
    ).fetchall()
    start = store.next_vid()
    with store.transaction():
        for lo in range(start, start + total - len(real), 50_000):
            hi = min(lo + 50_000, start + total - len(real))
            picks = rng.integers(0, len(real), hi - lo)
            noise = rng.standard_normal((hi - lo, 384)).astype(np.float32) * 0.025
            stories, vecs = [], []
            for j, (vid, p) in enumerate(zip(range(lo, hi), picks, strict=True)):
                _, lang, title, text, pub, ing, blob = real[p]
                v = np.frombuffer(blob, dtype=np.float32) + noise[j]
                v /= np.linalg.norm(v)
                key = f"synthetic-{vid}"
                stories.append(
                    (f"syn{vid}", vid, lang, title, text, text, key, key, key, pub, ing, ing, "{}")
                )
                vecs.append((key, v.tobytes()))
            store.db.executemany(
                f"INSERT INTO stories({','.join(names)}) VALUES({','.join('?' * len(names))})",
                stories,
            )
            store.db.executemany("INSERT INTO vectors(embed_key, vector) VALUES(?, ?)", vecs)
            print(f"grown to {hi - start + len(real)} stories", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--total", type=int, help="grow the home to this many stories first")
    args = ap.parse_args()
    extra = {}
    first = json.loads(args.data.read_text(encoding="utf-8").splitlines()[0])["id"]
    with tempfile.TemporaryDirectory(prefix="khabar-cli-") as tmp:
        base = [sys.executable, "-m", "khabar.cli", "--home", str(Path(tmp) / "home")]
        subprocess.run([*base, "nightly", str(args.data)], check=True, capture_output=True)
        if args.total:
            grow(Path(tmp) / "home", args.total)
            t = time.perf_counter()
            out = subprocess.run([*base, "reindex"], check=True, capture_output=True, text=True)
            extra["reindex_s"] = round(time.perf_counter() - t, 1)
            extra["reindex"] = out.stderr.strip().splitlines()[-1]
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
                "stories": args.total or sum(1 for _ in args.data.open(encoding="utf-8")),
                **extra,
                **{f"{k}_median_s": statistics.median(v) for k, v in times.items()},
                "runs": times,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
