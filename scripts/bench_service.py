"""Latency of `khabar serve`: the API under concurrent traffic, and the analyst's pages.

    python scripts/bench_service.py [--home HOME] [--requests 2000] [--threads 8]
    python scripts/bench_service.py --pages [--total 100000] [--page-requests 200]

Without --home it builds a temporary home with `khabar nightly` on NTREX-128 dev
(../shared/data/ntrex-dev/docs.jsonl: 168 stories in en, fa and ar; embedding them takes a
minute or two on a small CPU). It starts the real server on 127.0.0.1, warms it up, then
fires GET /similar?id=<random stored id> from several client threads (one keep-alive httpx
client each) and prints one JSON object: latency percentiles in ms, requests/s, errors, and
the bad requests it tried with the status each got (every one must be 4xx). Exit code 0 when
there were no errors, every bad request got a 4xx and p95 met the target; else 1.

With --pages it measures the web pages instead, one analyst at a time (sequential requests,
`Accept: text/html`): the search form, search by story id (with and without filters), search
by free text (a real headline each time: one model pass each), a story, the events (first
page and a deep page), an event, the reports. The home is NTREX-128 dev with publication times
spread over one day, grown with --total N to N stories by scripts/grow_home.py (copies of its
real events, spread over 2023-2024, with near-copies; vectors perturbed) and reindexed with
`khabar reindex`. Each page is timed by the client (whole round trip on loopback) and by the
server (its Server-Timing header: arrival to response headers). The first request of each kind
is reported apart: it pays one-off costs (the model's load, the catalog's one scan).
Exit code 0 when every page answered 200 and every page's server-side p95 is under
PAGE_TARGET_MS; else 1.
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
PAGE_TARGET_MS = 100.0
HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


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


def ntrex_with_times(dest: Path, data: Path) -> Path:
    """NTREX dev with a publication time: an article every 25 minutes of 2019-06-01 (as
    tests/test_browser.py builds it)."""
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    articles = sorted({r["article_id"] for r in rows})
    offset = {"en": 0, "fa": 17, "ar": 41}
    with dest.open("w", encoding="utf-8") as out:
        for r in rows:
            m = articles.index(r["article_id"]) * 25 + offset.get(r["lang"], 0)
            r["published_at"] = f"2019-06-01T{m // 60:02d}:{m % 60:02d}:00+00:00"
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
    return dest


def grown_home(home: Path, data: Path, total: int | None) -> dict:
    """NTREX (with times) through `khabar nightly`, grown to `total`, reindexed."""
    build_home(home, ntrex_with_times(home.parent / "ntrex-times.jsonl", data))
    out: dict = {}
    if total:
        sys.path.insert(0, str(REPO / "scripts"))
        from grow_home import grow

        t = time.perf_counter()
        out["grow"] = grow(home, total)
        out["grow_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        r = subprocess.run(
            [str(KHABAR), "--home", str(home), "reindex"],
            capture_output=True,
            text=True,
            check=True,
            timeout=3600,
        )
        out["reindex_s"] = round(time.perf_counter() - t, 1)
        out["reindex"] = r.stderr.strip().splitlines()[-1]
    return out


def page_plan(home: Path, n: int, seed: int) -> dict[str, list[str]]:
    """The URLs of each page kind, `n` each, with random stories and events of the home."""
    import sqlite3
    from urllib.parse import quote, urlencode

    rng = random.Random(seed)
    db = sqlite3.connect(f"file:{home / 'khabar.db'}?mode=ro", uri=True)
    try:
        top = db.execute("SELECT MAX(vid) FROM stories").fetchone()[0]

        def pick(column: str) -> tuple:
            q = f"SELECT {column} FROM stories WHERE vid >= ? AND event_id IS NOT NULL "
            q += "ORDER BY vid LIMIT 1"
            while True:
                row = db.execute(q, (rng.randint(1, top),)).fetchone()
                if row:
                    return row

        stories = [pick("id, title") for _ in range(n)]
        events = [pick("event_id")[0] for _ in range(n)]
        cursors = []
        for eid in events:
            last = db.execute(
                "SELECT MAX(COALESCE(published_at, ingested_at)) FROM stories WHERE event_id=?",
                (eid,),
            ).fetchone()[0]
            cursors.append(f"{last}|{eid}")
    finally:
        db.close()
    filters = {"lang": "fa", "duplicates": "hide", "since": "2023-06-01", "until": "2024-06-01"}
    return {
        "/ (empty form)": ["/"] * n,
        "/?q=ID (search by story id)": [f"/?{urlencode({'q': sid})}" for sid, _ in stories],
        "/?q=ID&lang&dates&duplicates=hide": [
            f"/?{urlencode({'q': sid, **filters})}" for sid, _ in stories
        ],
        "/?q=TEXT (free text: one model pass)": [
            f"/?{urlencode({'q': title[:300]})}" for _, title in stories
        ],
        "/stories/ID": [f"/stories/{quote(sid, safe='')}" for sid, _ in stories],
        "/events (first page)": ["/events"] * n,
        "/events?before=CURSOR (a deep page)": [
            f"/events?{urlencode({'before': c})}" for c in (cursors * n)[:n]
        ],
        "/events/ID": [f"/events/{quote(e, safe='')}" for e in events[:n]],
        "/reports": ["/reports"] * n,
        "JSON /stories/ID": [f"/stories/{quote(sid, safe='')}?format=json" for sid, _ in stories],
        "JSON /events": ["/events?format=json"] * n,
    }


def _stats(values: list[float]) -> dict:
    a = np.asarray(values) if values else np.asarray([np.nan])
    return {
        "p50": round(float(np.percentile(a, 50)), 1),
        "p95": round(float(np.percentile(a, 95)), 1),
        "max": round(float(np.max(a)), 1),
    }


def load_pages(base: str, plan: dict[str, list[str]], seed: int) -> dict:
    """Each URL once, the kinds interleaved in a random order, one request at a time."""
    rng = random.Random(seed)
    work = [(kind, url) for kind, urls in plan.items() for url in urls]
    rng.shuffle(work)
    first = {}
    with httpx.Client(base_url=base, timeout=120, headers=HTML) as c:
        for kind, urls in plan.items():  # the cold request of each kind, reported apart
            t0 = time.perf_counter()
            r = c.get(urls[0])
            first[kind] = {
                "status": r.status_code,
                "client_ms": round((time.perf_counter() - t0) * 1000, 1),
                "server_ms": _server_ms(r),
            }
        client: dict[str, list[float]] = {k: [] for k in plan}
        server: dict[str, list[float]] = {k: [] for k in plan}
        errors: list[str] = []
        for kind, url in work:
            t0 = time.perf_counter()
            r = c.get(url)
            ms = (time.perf_counter() - t0) * 1000
            if r.status_code != 200:
                errors.append(f"{url}: {r.status_code}")
                continue
            client[kind].append(ms)
            server[kind].append(_server_ms(r))
    pages = {
        kind: {
            "requests": len(client[kind]),
            "server_ms": _stats(server[kind]),
            "client_ms": _stats(client[kind]),
        }
        for kind in plan
    }
    return {"first_request": first, "pages": pages, "errors": errors}


def _server_ms(r: httpx.Response) -> float:
    timing = r.headers.get("server-timing", "")
    for part in timing.split(","):
        name, _, rest = part.strip().partition(";")
        if name == "app" and rest.startswith("dur="):
            return float(rest[4:])
    raise SystemExit(f"no Server-Timing header on {r.request.url}")


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count()}


def pages_main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="khabar-bench-pages-") as tmp:
        tmp_path = Path(tmp)
        built: dict = {}
        home = args.home
        if home is None:
            home = tmp_path / "home"
            built = grown_home(home, args.data, args.total)
        plan = page_plan(home, args.page_requests, args.seed)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_server(home, port, tmp_path)
        try:
            run = load_pages(base, plan, args.seed)
            health = httpx.get(base + "/health", timeout=10).json()
        finally:
            stop_server(proc)
    worst = max(p["server_ms"]["p95"] for p in run["pages"].values())
    ok = not run["errors"] and all(
        p["server_ms"]["p95"] < PAGE_TARGET_MS for p in run["pages"].values()
    )
    result = {
        "home": str(args.home) if args.home else f"temporary: {args.data} grown to {args.total}",
        "stories": health["stories"],
        "machine": machine(),
        "built": built,
        "requests_per_page": args.page_requests,
        "clients": 1,
        **run,
        "worst_server_p95_ms": worst,
        "page_target_ms": PAGE_TARGET_MS,
        "ok": ok,
    }
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, help="serve this home (default: build one from --data)")
    ap.add_argument("--data", type=Path, default=NTREX, help="stories for the temporary home")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pages", action="store_true", help="measure the web pages instead")
    ap.add_argument("--total", type=int, help="--pages: grow the home to this many stories")
    ap.add_argument("--page-requests", type=int, default=200, help="--pages: per page kind")
    args = ap.parse_args()
    if args.pages:
        return pages_main(args)

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
            stop_server(proc)

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
