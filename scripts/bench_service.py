"""Latency of `khabar serve` under concurrent GET /similar?id= traffic, and its bad requests.

    python scripts/bench_service.py [--home HOME] [--requests 2000] [--threads 8]

Without --home it builds a temporary home with `khabar nightly` on NTREX-128 dev
(../shared/data/ntrex-dev/docs.jsonl: 168 stories in en, fa and ar; embedding them takes a
minute or two on a small CPU). It starts the real server on 127.0.0.1, warms it up, then
fires GET /similar?id=<random stored id> from several client threads (one keep-alive httpx
client each) and prints one JSON object: latency percentiles in ms, requests/s, errors, and
the bad requests it tried with the status each got (every one must be 4xx). Exit code 0 when
there were no errors, every bad request got a 4xx and p95 met the target; else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
NTREX = REPO.parent / "shared" / "data" / "ntrex-dev" / "docs.jsonl"
KHABAR = Path(sys.executable).parent / "khabar"
P95_TARGET_MS = 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_home(home: Path, data: Path) -> None:
    print(f"building {home} from {data} with `khabar nightly` ...", file=sys.stderr)
    r = subprocess.run(
        [str(KHABAR), "--home", str(home), "nightly", "--json", str(data)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if r.returncode not in (0, 1):
        sys.exit(f"khabar nightly failed ({r.returncode}):\n{r.stderr}")


def story_ids(home: Path) -> list[str]:
    r = subprocess.run(
        [str(KHABAR), "--home", str(home), "export"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return [json.loads(line)["id"] for line in r.stdout.splitlines() if line.strip()]


def start_server(home: Path, port: int, logs: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "KHABAR_TOKEN"}
    proc = subprocess.Popen(
        [str(KHABAR), "--home", str(home), "serve", "--port", str(port)],
        stdout=(logs / "serve.out").open("wb"),
        stderr=(logs / "serve.err").open("wb"),
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited: {(logs / 'serve.err').read_text(errors='replace')}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.terminate()
    sys.exit("server did not answer /health within 60 s")


def load(base: str, ids: list[str], n: int, threads: int, k: int, seed: int) -> dict:
    """n requests from `threads` threads; latencies in ms of the successful ones."""
    rng = random.Random(seed)
    plan = [rng.choice(ids) for _ in range(n)]
    lock = threading.Lock()
    cursor = 0
    latencies: list[float] = []
    errors: list[str] = []

    def worker() -> None:
        nonlocal cursor
        with httpx.Client(base_url=base, timeout=30) as c:
            while True:
                with lock:
                    if cursor >= len(plan):
                        return
                    sid = plan[cursor]
                    cursor += 1
                t0 = time.perf_counter()
                try:
                    r = c.get("/similar", params={"id": sid, "k": k})
                    ok = r.status_code == 200 and r.json()["results"]
                    detail = f"{sid}: {r.status_code}"
                except httpx.HTTPError as exc:
                    ok, detail = False, f"{sid}: {type(exc).__name__}"
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    if ok:
                        latencies.append(ms)
                    else:
                        errors.append(detail)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {"seconds": time.perf_counter() - t0, "latencies": latencies, "errors": errors}


def bad_requests(base: str, some_id: str) -> list[dict]:
    """Client mistakes and what the server answered: each must be a 4xx with a JSON body."""

    def chunks():
        for _ in range(32):  # 2 MB, streamed without Content-Length
            yield b"x" * 65536

    j = {"content-type": "application/json"}
    tries = [
        ("GET", "/similar?id=no-such-story", {}),
        ("GET", f"/similar?id={some_id}&k=0", {}),
        ("GET", f"/similar?id={some_id}&k=1001", {}),
        ("GET", f"/similar?id={some_id}&k=ten", {}),
        ("GET", "/similar", {}),
        ("GET", "/stories/no-such-story", {}),
        ("GET", "/events/no-such-event", {}),
        ("GET", "/events?since=yesterday", {}),
        ("POST", "/similar", {"content": b'{"text": "abc", ', "headers": j}),
        ("POST", "/similar", {"json": {"text": ""}}),
        ("POST", "/similar", {"json": {"text": " \n\t "}}),
        ("POST", "/similar", {"json": {"text": "abc", "k": 0}}),
        ("POST", "/similar", {"json": {"text": "abc", "k": "5"}}),
        ("POST", "/similar", {"json": {"text": "x" * 1_000_001}}),
        ("POST", "/similar", {"content": chunks(), "headers": j}),
        ("GET", "/no/such/route", {}),
        ("DELETE", "/similar", {}),
        ("POST", "/health", {}),
    ]
    out = []
    with httpx.Client(base_url=base, timeout=60) as c:
        for method, path, kwargs in tries:
            label = path if len(path) < 60 else path[:57] + "..."
            if "json" in kwargs:
                label += f" {json.dumps(kwargs['json'], ensure_ascii=False)[:60]}"
            elif "content" in kwargs:
                label += (
                    " <chunked 2 MB>"
                    if not isinstance(kwargs["content"], bytes)
                    else (" " + kwargs["content"].decode())
                )
            try:
                r = c.request(method, path, **kwargs)
                status = r.status_code
                is_json = r.headers.get("content-type", "").startswith("application/json")
            except httpx.HTTPError as exc:
                status, is_json = type(exc).__name__, False
            out.append({"request": f"{method} {label}", "status": status, "json": is_json})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, help="serve this home (default: build one from --data)")
    ap.add_argument("--data", type=Path, default=NTREX, help="stories for the temporary home")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="khabar-bench-") as tmp:
        tmp_path = Path(tmp)
        home = args.home
        if home is None:
            home = tmp_path / "home"
            build_home(home, args.data)
        ids = story_ids(home)
        if not ids:
            sys.exit(f"{home} holds no stories")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_server(home, port, tmp_path)
        try:
            load(base, ids, args.warmup, args.threads, args.k, args.seed + 1)
            run = load(base, ids, args.requests, args.threads, args.k, args.seed)
            bad = bad_requests(base, ids[0])
            health = httpx.get(base + "/health", timeout=10).json()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    lat = np.asarray(run["latencies"]) if run["latencies"] else np.asarray([np.nan])
    p50, p95, p99 = (round(float(np.percentile(lat, q)), 2) for q in (50, 95, 99))
    all_4xx = all(
        isinstance(b["status"], int) and 400 <= b["status"] < 500 and b["json"] for b in bad
    )
    result = {
        "home": str(args.home) if args.home else f"temporary, from {args.data}",
        "stories": health["stories"],
        "note": "NTREX-128 dev has 168 stories (56 x en/fa/ar)" if args.home is None else None,
        "requests": args.requests,
        "warmup": args.warmup,
        "threads": args.threads,
        "k": args.k,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "max_ms": round(float(np.max(lat)), 2),
        "requests_per_s": round(len(run["latencies"]) / run["seconds"], 1),
        "errors": len(run["errors"]),
        "error_samples": run["errors"][:5],
        "p95_target_ms": P95_TARGET_MS,
        "p95_ok": bool(p95 <= P95_TARGET_MS),
        "bad_requests": bad,
        "bad_requests_all_4xx_json": all_4xx,
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if result["p95_ok"] and not run["errors"] and all_4xx else 1


if __name__ == "__main__":
    sys.exit(main())
