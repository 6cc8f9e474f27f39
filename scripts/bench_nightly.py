"""The nightly job end to end against the naive peer, whole process against whole process.

Each round runs `khabar nightly` on a fresh home and `scripts/naive_peer.py` on the same
stories, one after the other in alternating order, and records wall time and peak RSS
(os.wait4). The ratio is taken per round, so both sides of a ratio share the machine's
state; the median of the rounds is reported. Quality comes from `khabar eval` on the same
file (events B-cubed F1, duplicate F1), and with `--before REF` also from the code at git REF
(a temporary worktree, whose nightly is then timed in every round too), so a change can be
checked for what it costs in time and in quality. Each khabar run also records its seconds
outside the job's own clock (start-up, imports and exit: `outside_job_s`).

    python scripts/bench_nightly.py [--data ../shared/data/ntrex-dev/docs.jsonl] [--n 200]
        [--rounds 3] [--before REF]

With `--synthetic N` it instead builds N stories from every text in ../shared/data (NTREX
documents, ANS and ExaPPC sentences, cycled with new ids and dates when N is larger) and
reports khabar's wall time, peak RSS, what the job says it spent where (loading the model,
embedding, the index, clustering, the rest) and the share of the wall time outside the model:
the figures for a large night.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> dict:
    """Wall seconds and peak RSS (MiB) of one whole process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed with status {status}")
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "stdout": out.decode("utf-8", "replace"),
    }


def isa_name() -> str:
    """The CPU's matrix ISA, for the record (benchmarks compare within one machine)."""
    sys.path.insert(0, str(ROOT))
    from embed.encoder import cpu_flags

    flags = cpu_flags()
    if not flags:
        return "unknown"
    return next(
        (name for flag, name in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"),
                                 ("avx512f", "AVX512"), ("avx2", "AVX2")) if flag in flags),
        "other",
    )  # fmt: skip


def outside_job(r: dict) -> None:
    """The process's seconds outside the job's own clock (start-up, imports, exit), from the
    summary that `nightly --json` printed; the summary itself is dropped."""
    r["outside_job_s"] = round(r["seconds"] - json.loads(r.pop("stdout"))["seconds"]["total"], 2)


@contextmanager
def worktree(ref: str | None, dest: Path) -> Iterator[None]:
    """The code at git `ref` checked out at `dest` for the block, removed after it (no ref:
    nothing), so the code before a change runs as its own tree."""
    if ref is None:
        yield
        return
    cmd = ["git", "worktree", "add", "--detach", str(dest), ref]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(dest)], cwd=ROOT)


def khabar_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "khabar.cli", *args]


def quality(data: Path, cwd: Path) -> dict:
    out = run(khabar_cmd("eval", str(data), "--published-at", "2019-06-01", "--json"), cwd)
    r = json.loads(out["stdout"])
    return {
        "events_bcubed_f1": round(r["events"]["bcubed_f1"], 4),
        "duplicates_f1": round(r["duplicates"]["f1"], 4),
    }


def synthetic(n: int, dest: Path) -> None:
    """N stories from the real texts in ../shared/data, cycled with fresh ids and dates."""
    texts: list[tuple[str, str, str]] = []
    for line in (DATA / "ntrex-dev" / "docs.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        texts.append((d["lang"], d["title"], d["text"]))
    for name in ("ans-ar-dev", "exappc-fa-dev"):
        for line in (DATA / name / "pairs.jsonl").read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            texts += [(d["lang"], "", d["text1"]), (d["lang"], "", d["text2"])]
    with dest.open("w", encoding="utf-8") as fh:
        for i in range(n):
            lang, title, text = texts[i % len(texts)]
            lap = i // len(texts)
            day = 1 + (i * 28) // n
            row = {
                "id": f"s{i:07d}",
                "lang": lang,
                "title": title,
                "text": text if lap == 0 else f"{text} ({lap})",
                "published_at": f"2024-02-{day:02d}",
                "outlet": f"outlet-{i % 7}",
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA / "ntrex-dev" / "docs.jsonl")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", help="git ref whose quality to measure as well")
    ap.add_argument("--synthetic", type=int, help="N synthetic stories: khabar time and RSS")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="khabar-bench-") as tmp:
        tmp = Path(tmp)
        stories = tmp / "stories.jsonl"
        if args.synthetic:
            synthetic(args.synthetic, stories)
            cmd = khabar_cmd("--home", str(tmp / "home"), "nightly", "--json", str(stories))
            r = run(cmd, ROOT)
            summary = json.loads(r.pop("stdout"))
            took = summary["seconds"]
            model = took["model_load"] + took["embed"]
            outside = r["seconds"] - model  # the whole process: imports and start-up too
            counts = ("read", "new", "embedded", "reused", "rejected")
            print(json.dumps({
                "stories": args.synthetic,
                "khabar_nightly": r,
                "summary": {k: summary[k] for k in counts},
                "job_seconds": took,
                "outside_model_s": round(outside, 2),
                "share_outside_model": round(outside / r["seconds"], 3),
                "outside_model_ms_per_story": round(outside / args.synthetic * 1e3, 2),
                "isa": isa_name(),
            }, indent=1))  # fmt: skip
            return
        lines = args.data.read_text(encoding="utf-8").splitlines()[: args.n]
        stories.write_text("\n".join(lines) + "\n", encoding="utf-8")
        naive = [sys.executable, str(ROOT / "scripts" / "naive_peer.py"), str(stories)]
        wt = tmp / "before"
        rounds = []
        with worktree(args.before, wt):
            for i in range(args.rounds):
                home = tmp / f"home{i}"
                ours_cmd = khabar_cmd("--home", str(home), "nightly", "--json", str(stories))
                if i % 2 == 0:
                    a, b = run(ours_cmd, ROOT), run(naive, ROOT)
                else:
                    b, a = run(naive, ROOT), run(ours_cmd, ROOT)
                outside_job(a), b.pop("stdout")
                row = {"khabar": a, "naive": b, "ratio": round(a["seconds"] / b["seconds"], 3)}
                if args.before:  # the same night at REF, run from its worktree (its own code)
                    old = run(
                        khabar_cmd(
                            "--home", str(tmp / f"old{i}"), "nightly", "--json", str(stories)
                        ),
                        wt,
                    )
                    outside_job(old)
                    row["before"] = old
                    row["vs_before"] = round(a["seconds"] / old["seconds"], 3)
                rounds.append(row)
                print(json.dumps(rounds[-1]), file=sys.stderr, flush=True)
            if args.before:
                before_quality = quality(stories, wt)
        result = {
            "stories": len(lines),
            "rounds": rounds,
            "median_ratio": statistics.median(r["ratio"] for r in rounds),
            "median_seconds": {
                side: statistics.median(r[side]["seconds"] for r in rounds)
                for side in ("khabar", "naive")
            },
            "quality": {"after": quality(stories, ROOT)},
        }
        if args.before:
            result["quality"]["before"] = before_quality
            result["quality"]["before_ref"] = args.before
            result["median_vs_before"] = statistics.median(r["vs_before"] for r in rounds)
            result["median_seconds"]["before"] = statistics.median(
                r["before"]["seconds"] for r in rounds
            )
        result["median_outside_job_s"] = {
            side: statistics.median(r[side]["outside_job_s"] for r in rounds)
            for side in ("khabar", "before")
            if side in rounds[0]
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
