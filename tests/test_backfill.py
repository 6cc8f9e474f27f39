"""`khabar backfill`: the same home as one nightly per day, on every route, killed or not.

Ten days of real NTREX stories (each article's English, Persian and Arabic versions on one
day, the articles spread over 2019-06-01..10) are loaded four ways: `khabar nightly` once
per day, `khabar backfill --executor local`, `khabar backfill --executor ray` on a local
Ray with 2 CPUs, and killed backfills run again. Every stored field but the wall-clock
timestamps must agree, scores and evidence to the last digit, and the vectors and the
per-day language sums to the bit. Everything runs as a subprocess, as a user would.
"""

from __future__ import annotations

import collections
import json
import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import SHARED_DATA

KHABAR = [str(Path(sys.executable).with_name("khabar"))]  # the console script a user runs
CLOCK = {"ingested_at", "updated_at"}  # when a run happened, not what it decided
DAYS = 10


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*KHABAR, "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
    )


def state(home: Path) -> dict:
    """Everything a home decided: stories (minus clock fields), events, vectors, sums."""
    db = sqlite3.connect(home / "khabar.db")
    db.row_factory = sqlite3.Row
    stories = {
        r["id"]: {k: r[k] for k in r.keys() if k not in CLOCK}
        for r in db.execute("SELECT * FROM stories")
    }
    out = {
        "stories": stories,
        "events": sorted(r[0] for r in db.execute("SELECT id FROM events")),
        "vectors": {r[0]: r[1] for r in db.execute("SELECT embed_key, vector FROM vectors")},
        "lang_days": sorted(tuple(r) for r in db.execute("SELECT * FROM lang_days")),
    }
    db.close()
    return out


def export(home: Path) -> list[dict]:
    done = run(home, "export")
    assert done.returncode == 0, done.stderr
    return sorted((json.loads(line) for line in done.stdout.splitlines()), key=lambda r: r["id"])


def assert_same(a: dict, b: dict) -> None:
    assert a["events"] == b["events"]
    assert a["vectors"] == b["vectors"]
    assert a["lang_days"] == b["lang_days"]
    assert a["stories"].keys() == b["stories"].keys()
    for sid, row in a["stories"].items():
        assert row == b["stories"][sid], sid


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> list[Path]:
    """One file per day; the articles dealt round-robin over the days."""
    docs = [json.loads(line) for line in (SHARED_DATA / "ntrex-dev" / "docs.jsonl").open()]
    articles = collections.defaultdict(list)
    for d in docs:
        articles[d["id"].rsplit("-", 1)[0]].append(d)
    root = tmp_path_factory.mktemp("days")
    files = []
    for day in range(DAYS):
        rows = [
            {
                "id": d["id"],
                "lang": d["lang"],
                "title": d["title"],
                "text": d["text"],
                "outlet": name.split(".")[0],
                "published_at": f"2019-06-{day + 1:02d}",
            }
            for i, (name, versions) in enumerate(sorted(articles.items()))
            if i % DAYS == day
            for d in versions
        ]
        path = root / f"day{day + 1:02d}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        files.append(path)
    return files


@pytest.fixture(scope="module")
def routes(days: list[Path], tmp_path_factory) -> dict[str, Path]:
    """The three clean routes, two at a time (the machine has two cores)."""
    root = tmp_path_factory.mktemp("routes")

    def nightly() -> Path:
        home = root / "nightly"
        for f in days:
            done = run(home, "nightly", str(f))
            assert done.returncode == 0, done.stderr
        return home

    def backfill(executor: str) -> Path:
        home = root / executor
        done = run(
            home, "backfill", "--executor", executor, "--workers", "2", "--json", *map(str, days)
        )
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["embedded"] == 168 and summary["new"] == 168 and summary["days"] == DAYS
        assert summary["executor"] == executor
        return home

    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {
            "nightly": pool.submit(nightly),
            "local": pool.submit(backfill, "local"),
        }
        homes = {k: f.result() for k, f in jobs.items()}
    homes["ray"] = backfill("ray")
    return homes


def test_nightly_per_day_and_both_backfills_store_the_same(routes: dict[str, Path]) -> None:
    nightly = state(routes["nightly"])
    # The routes decided something: NTREX's 56 articles, each an event of 3 languages.
    events = {r["event_id"] for r in nightly["stories"].values()}
    assert len(events) == 56
    assert sum(1 for r in nightly["stories"].values() if r["duplicate_kind"]) >= 100
    assert all(
        r["event_score"] is not None or r["event_evidence"] for r in nightly["stories"].values()
    )
    for route in ("local", "ray"):
        assert_same(nightly, state(routes[route]))
        assert export(routes[route]) == export(routes["nightly"])
    assert not (routes["local"] / "backfill").exists()  # artefacts gone once done


def test_a_late_story_joins_its_own_days_event(
    routes: dict[str, Path], days: list[Path], tmp_path
) -> None:
    """A Persian version of a day-2 article arrives with the tenth night: it joins the
    article's event, made eight days before, as a translation of it."""
    rows = [json.loads(line) for line in days[1].open()]
    late = next(r for r in rows if r["lang"] == "fa")
    held = tmp_path / "held"
    held.mkdir()
    for f in days:
        kept = [line for line in f.open() if json.loads(line)["id"] != late["id"]]
        (held / f.name).write_text("".join(kept))
    home = tmp_path / "home"
    done = run(home, "backfill", *sorted(map(str, held.iterdir())))
    assert done.returncode == 0, done.stderr
    (tmp_path / "late.jsonl").write_text(json.dumps(late, ensure_ascii=False) + "\n")
    done = run(home, "nightly", str(tmp_path / "late.jsonl"))
    assert done.returncode == 0, done.stderr
    got = state(home)["stories"]
    want = state(routes["nightly"])["stories"]
    assert got[late["id"]]["event_id"] == want[late["id"]]["event_id"]
    assert got[late["id"]]["duplicate_kind"] == "translation"


@pytest.mark.parametrize("point", ["backfill-embed", "backfill-fold"])
def test_a_killed_driver_continues_to_the_same_home(
    routes: dict[str, Path], days: list[Path], tmp_path, point: str
) -> None:
    home = tmp_path / "home"
    args = ["backfill", "--json", *map(str, days)]
    crashed = run(home, *args, env={"KHABAR_CRASH_AT": point})
    assert crashed.returncode == -9, crashed.stderr
    work = next((home / "backfill").iterdir())
    before = sum(len(json.loads(p.read_text())) for p in (work / "embed").glob("*.keys.json"))
    assert before > 0
    again = run(home, *args)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    # Nothing embedded twice: the rerun embeds exactly what the killed run had not.
    assert summary["embedded"] == 168 - before
    assert summary["resumed"]["read"] == DAYS
    if point == "backfill-fold":
        assert summary["embedded"] == 0 and summary["days"] == DAYS - 1  # one day committed
    assert_same(state(routes["local"]), state(home))


def test_a_killed_ray_worker_loses_nothing(
    routes: dict[str, Path], days: list[Path], tmp_path
) -> None:
    """A model actor is SIGKILLed on its first batch. Ray Data may retry the batch on a new
    actor, or the backfill stops; either way, run again, the home is the clean one."""
    home = tmp_path / "home"
    marker = tmp_path / "worker-killed"
    args = ["backfill", "--executor", "ray", "--workers", "2", "--json", *map(str, days)]
    first = run(home, *args, env={"KHABAR_CRASH_WORKER": str(marker)})
    assert marker.exists()  # a worker did die (it wrote its pid, then killed itself)
    if first.returncode != 0:
        again = run(home, *args)
        assert again.returncode == 0, again.stderr
    assert_same(state(routes["local"]), state(home))
