"""Crash safety of the nightly job: SIGKILL at named points and from outside, two writers.

Every run is the real console script in a subprocess, on 42 NTREX dev stories (14 stories in
en, fa and ar, cut to their first lines so that embedding takes seconds, dated over five days).
A run is killed with SIGKILL, through the pipeline's test hook `KHABAR_CRASH_AT` (after reading
the input, after the first chunk is written, after clustering before the commit, after the
commit before the index is saved) and with an outside `kill -9` while it embeds. After each
kill every read command must work on the home (or stop with exit 3 naming `khabar reindex`),
the home must hold exactly its previous state (or the committed one), and running the same
nightly again must give exactly what a clean run into a fresh home gives: the same stories, no
story lost or doubled, the same event ids and members, the same duplicates.

A second night (new stories, an update, an exact copy) is killed on a home that already holds
the first: the first night, with its index, must survive a kill before the commit untouched.
Two writers: while one nightly holds the write lock, a second with KHABAR_LOCK_TIMEOUT=1 stops
with exit 3 and a message naming the other run; the first completes as a clean run would.

The model loads in ~10 s per process, so the scenarios run as independent jobs, two at a time
(the machine has two cores), started once per module; each test waits for the jobs it checks.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from khabar.pipeline import CRASH_ENV
from khabar.store import DB_FILE

NTREX = Path(__file__).resolve().parents[2] / "shared" / "data" / "ntrex-dev" / "docs.jsonl"
EXE = Path(sys.executable).with_name("khabar")

pytestmark = pytest.mark.skipif(not NTREX.is_file(), reason=f"NTREX dev data absent ({NTREX})")

N_DOCS = 14  # x 3 languages = 42 stories
LINES = 2  # lines of each text kept
POINTS = ("after-read", "mid-write", "before-commit", "after-commit")
KILLS = (*POINTS, "kill-9-while-embedding")
TIMEOUT = 300  # seconds for any one process
PROBE = "ntrex-upi.176266-fa"  # a story of the first night: `similar --id` asks about it


# --- running khabar -------------------------------------------------------------------------


@dataclass
class Proc:
    """A finished khabar process."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float

    def __str__(self) -> str:
        return f"khabar {' '.join(self.args)} -> {self.code}\n{self.err[-3000:]}"


def _env(**extra: str) -> dict[str, str]:
    drop = ("KHABAR_HOME", "KHABAR_MODEL", CRASH_ENV, "KHABAR_LOCK_TIMEOUT")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


def _start(home: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(EXE), "--home", str(home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(**env),
    )


def run(home: Path, *args: str, **env: str) -> Proc:
    start = time.monotonic()
    p = _start(home, *args, **env)
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return Proc(args, p.returncode, out.decode(), err.decode(), time.monotonic() - start)


def kill_while_embedding(home: Path, file: Path) -> Proc:
    """Start the nightly job and `kill -9` it from outside half a second after its progress
    bar appears on stderr (the model is loaded, the vectors are being computed)."""
    start = time.monotonic()
    p = _start(home, "nightly", str(file))
    assert p.stderr is not None
    err = b""
    while b"embedding" not in err:
        chunk = os.read(p.stderr.fileno(), 4096)
        if not chunk:
            break
        err += chunk
    killed_after = None
    if b"embedding" in err:
        time.sleep(0.5)
        killed_after = time.monotonic() - start
        p.kill()  # SIGKILL, from outside the process
    out, rest = p.communicate(timeout=TIMEOUT)
    proc = Proc(("nightly", str(file)), p.returncode, out.decode(), (err + rest).decode(), 0.0)
    proc.seconds = killed_after if killed_after is not None else time.monotonic() - start
    return proc


def read_commands(home: Path) -> dict[str, Proc]:
    """Every read command, on the home as a crash left it."""
    return {
        "export": run(home, "export"),
        "events": run(home, "events", "--json", "-n", "1000"),
        "duplicates": run(home, "duplicates", "--json"),
        "similar": run(home, "similar", "--id", PROBE, "--json", "-k", "5"),
    }


def lines_json(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclass
class State:
    """What a home holds, as the read commands and the database show it."""

    export: dict[str, dict[str, Any]]  # story id -> export row
    events: dict[str, list[str]]  # event id -> its story ids, sorted
    duplicates: dict[str, tuple[str, str]]  # story id -> (duplicate_of, duplicate_kind)
    similar: list[str] | None  # ids `similar --id PROBE` answers, None if it stopped
    rows: int  # rows in the stories table
    runs: int  # runs recorded

    @classmethod
    def of(cls, home: Path, reads: dict[str, Proc] | None = None) -> State:
        reads = reads or read_commands(home)
        for name in ("export", "events", "duplicates"):
            assert reads[name].code == 0, str(reads[name])
        export = lines_json(reads["export"].out)
        events = {
            e["id"]: sorted(s["id"] for s in e["stories_list"])
            for e in lines_json(reads["events"].out)
        }
        dups = {
            d["id"]: (d["duplicate_of"], d["duplicate_kind"])
            for d in lines_json(reads["duplicates"].out)
        }
        sim = reads["similar"]
        similar = [h["id"] for h in json.loads(sim.out)["results"]] if sim.code == 0 else None
        with sqlite3.connect(home / DB_FILE) as db:
            rows = db.execute("SELECT COUNT(*) FROM stories").fetchone()[0]
            runs = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        db.close()
        return cls({r["id"]: r for r in export}, events, dups, similar, rows, runs)


def assert_same_result(got: State, want: State) -> None:
    """`got` holds exactly what `want` (a clean run) holds."""
    assert got.rows == len(got.export) == want.rows, "a story was lost or doubled"
    assert sorted(got.export) == sorted(want.export)
    assert got.events == want.events  # same event ids, same members
    assert got.duplicates == want.duplicates
    for sid, row in want.export.items():
        mine = got.export[sid]
        assert (mine["duplicate_of"], mine["duplicate_kind"]) == (
            row["duplicate_of"],
            row["duplicate_kind"],
        ), sid
        if row["duplicate_score"] is None:
            assert mine["duplicate_score"] is None, sid
        else:
            assert mine["duplicate_score"] == pytest.approx(row["duplicate_score"], abs=2e-3)
        assert {k: v for k, v in mine.items() if k != "duplicate_score"} == {
            k: v for k, v in row.items() if k != "duplicate_score"
        }, sid
    assert got.similar == want.similar


def assert_reads_work(reads: dict[str, Proc], committed: bool) -> None:
    """Read commands answer; `similar` may stop with exit 3, naming `khabar reindex` when the
    story is there but the index is behind."""
    for name, p in reads.items():
        assert "Traceback" not in p.err, str(p)
        if name != "similar":
            assert p.code == 0, str(p)
    sim = reads["similar"]
    if sim.code != 0:
        assert sim.code == 3, str(sim)
        expected = "khabar reindex" if committed else "no story"
        assert expected in sim.err, str(sim)


# --- inputs ---------------------------------------------------------------------------------


def _docs() -> list[list[dict[str, Any]]]:
    """NTREX dev grouped by source document, in file order: [en, fa, ar] versions."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for line in NTREX.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            groups.setdefault(row["doc_id"], []).append(row)
    return list(groups.values())


def _story(doc: dict[str, Any], day: int, lines: int = LINES) -> dict[str, Any]:
    row = {k: doc[k] for k in ("id", "lang", "title", "outlet")}
    row["text"] = "\n".join(doc["text"].split("\n")[:lines])
    row["published_at"] = f"2019-06-{day:02d}"
    return row


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


# --- the jobs -------------------------------------------------------------------------------


@dataclass
class Killed:
    """A killed run, what the home answered right after, and the run that followed."""

    crash: Proc
    reads: dict[str, Proc]
    after_kill: State
    rerun: Proc
    final: State


class Lab:
    """The module's scenarios, run as background jobs two at a time."""

    def __init__(self, root: Path):
        self.root = root
        docs = _docs()
        night1 = [_story(d, 1 + i % 5) for i, group in enumerate(docs[:N_DOCS]) for d in group]
        self.file = _write(root / "night1.jsonl", night1)
        self.n_stories = len(night1)
        updated = _story(docs[0][1], 1, lines=LINES + 1)  # fa version, one more line
        copy = dict(_story(docs[1][0], 3), id="copy-of-" + docs[1][0]["id"])  # exact copy
        fresh = [_story(d, 3) for d in docs[N_DOCS]]
        self.night2_rows = [*fresh, updated, copy]
        self.night2 = _write(root / "night2.jsonl", self.night2_rows)
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.jobs: dict[str, Future[Any]] = {}
        self.submit("reference", self._reference)
        for name in ("mid-write", "before-commit", "kill-9-while-embedding"):
            self.submit(name, self._killed, name)
        self.submit("after-read", self._after_read_then_two_writers)
        self.submit("after-commit", self._killed, "after-commit")
        self.submit("night2-reference", self._night2_reference)
        for name in ("before-commit", "after-commit"):
            self.submit(f"night2-{name}", self._night2_killed, name)

    def submit(self, name: str, fn: Callable[..., Any], *args: Any) -> None:
        self.jobs[name] = self.pool.submit(fn, *args)

    def result(self, name: str) -> Any:
        return self.jobs[name].result(timeout=900)

    def home(self, name: str) -> Path:
        return self.root / name / "home"

    def _reference(self) -> tuple[Proc, State]:
        home = self.home("reference")
        proc = run(home, "nightly", str(self.file))
        return proc, State.of(home)

    def _killed(self, point: str) -> Killed:
        home = self.home(point)
        if point == "kill-9-while-embedding":
            crash = kill_while_embedding(home, self.file)
        else:
            crash = run(home, "nightly", str(self.file), **{CRASH_ENV: point})
        reads = read_commands(home)
        after_kill = State.of(home, reads)
        rerun = run(home, "nightly", str(self.file))
        return Killed(crash, reads, after_kill, rerun, State.of(home))

    def _after_read_then_two_writers(self) -> tuple[Killed, Proc, bool]:
        """The kill after reading, then its rerun as the first of two writers: a second
        nightly starts while the first holds the write lock. Returns (the kill and the rerun,
        the second writer, whether the first was still running when the second stopped)."""
        home = self.home("after-read")
        crash = run(home, "nightly", str(self.file), **{CRASH_ENV: "after-read"})
        reads = read_commands(home)
        after_kill = State.of(home, reads)
        start = time.monotonic()
        first = _start(home, "nightly", str(self.file))
        wait_for_write_lock(home, first)
        second = run(home, "nightly", str(self.file), KHABAR_LOCK_TIMEOUT="1")
        overlapped = first.poll() is None
        out, err = first.communicate(timeout=TIMEOUT)
        rerun = Proc(
            ("nightly", str(self.file)),
            first.returncode,
            out.decode(),
            err.decode(),
            time.monotonic() - start,
        )
        return Killed(crash, reads, after_kill, rerun, State.of(home)), second, overlapped

    def killed(self, point: str) -> Killed:
        return self.result(point)[0] if point == "after-read" else self.result(point)

    def _night2_base(self, name: str) -> Path:
        """A copy of the reference home (the first night, committed, with its index)."""
        self.result("reference")
        home = self.home(name)
        shutil.copytree(self.home("reference"), home)
        return home

    def _night2_reference(self) -> tuple[Proc, State]:
        home = self._night2_base("night2-reference")
        proc = run(home, "nightly", str(self.night2))
        return proc, State.of(home)

    def _night2_killed(self, point: str) -> Killed:
        home = self._night2_base(f"night2-{point}")
        crash = run(home, "nightly", str(self.night2), **{CRASH_ENV: point})
        reads = read_commands(home)
        after_kill = State.of(home, reads)
        rerun = run(home, "nightly", str(self.night2))
        return Killed(crash, reads, after_kill, rerun, State.of(home))


def wait_for_write_lock(home: Path, proc: subprocess.Popen[bytes], limit: float = 120) -> None:
    """Return once `proc` holds the home's write lock (its run's transaction has begun):
    a probe's BEGIN IMMEDIATE then fails with "database is locked"."""
    deadline = time.monotonic() + limit
    wal = home / (DB_FILE + "-wal")
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the first writer ended before it was seen holding the lock"
        if wal.exists():
            db = sqlite3.connect(home / DB_FILE, timeout=0, isolation_level=None)
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute("ROLLBACK")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    return
                raise
            finally:
                db.close()
        time.sleep(0.05)
    raise AssertionError("the first writer never took the write lock")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    assert EXE.is_file(), f"no console script next to {sys.executable}"
    lab = Lab(tmp_path_factory.mktemp("crash"))
    yield lab
    lab.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def reference(lab: Lab) -> State:
    proc, state = lab.result("reference")
    assert proc.code == 0, str(proc)
    return state


# --- the tests ------------------------------------------------------------------------------


def test_clean_run_is_a_meaningful_reference(lab: Lab, reference: State) -> None:
    """The reference holds every story, several multi-story events and translation duplicates,
    so that comparing a recovered home with it checks something."""
    proc, _ = lab.result("reference")
    assert f"new {lab.n_stories}" in proc.err and "rejected 0" in proc.err
    assert reference.rows == lab.n_stories == len(reference.export)
    assert len(reference.events) >= N_DOCS // 2
    assert max(len(members) for members in reference.events.values()) >= 3
    assert sum(kind == "translation" for _, kind in reference.duplicates.values()) >= N_DOCS
    assert reference.similar and reference.similar[0].startswith("ntrex-upi.176266-")
    assert reference.runs == 1


@pytest.mark.parametrize("point", KILLS)
def test_kill_leaves_the_previous_state(lab: Lab, reference: State, point: str) -> None:
    """Right after the kill: the read commands work, and the home holds nothing of the run
    (killed before its commit) or all of it (killed after)."""
    k = lab.killed(point)
    assert k.crash.code == -9, str(k.crash)  # died of SIGKILL, not of an error
    assert "Traceback" not in k.crash.err
    if point == "kill-9-while-embedding":
        assert "embedding" in k.crash.err and "read " not in k.crash.err, k.crash.err
    committed = point == "after-commit"
    assert_reads_work(k.reads, committed)
    if committed:
        assert k.after_kill.export == reference.export
        assert k.after_kill.rows == reference.rows and k.after_kill.runs == 1
        assert k.after_kill.similar is None  # the index was not saved: reindex, said above
    else:
        assert k.after_kill.export == {} and k.after_kill.events == {}
        assert k.after_kill.duplicates == {}
        assert k.after_kill.rows == 0 and k.after_kill.runs == 0


@pytest.mark.parametrize("point", KILLS)
def test_rerun_after_kill_equals_a_clean_run(lab: Lab, reference: State, point: str) -> None:
    k = lab.killed(point)
    assert k.rerun.code == 0, str(k.rerun)
    assert "Traceback" not in k.rerun.err
    if point == "after-commit":  # everything was stored: nothing to embed, the index is rebuilt
        assert "new 0" in k.rerun.err and "embedded 0" in k.rerun.err
        assert "index rebuilt" in k.rerun.err
        assert k.final.runs == 2
    else:
        assert f"new {lab.n_stories}" in k.rerun.err
        assert k.final.runs == 1  # the killed run left no record
    assert_same_result(k.final, reference)


def report_events(home: Path) -> list[str]:
    report = json.loads((home / "reports" / "latest.json").read_text(encoding="utf-8"))
    return sorted(e["id"] for e in report["events"])


@pytest.mark.parametrize("point", KILLS)
def test_report_after_rerun_lists_the_nights_events(lab: Lab, reference: State, point: str) -> None:
    """The morning report after the rerun shows the night's events, as a clean run's does."""
    k = lab.killed(point)
    assert k.rerun.code == 0, str(k.rerun)
    assert report_events(lab.home(point)) == report_events(lab.home("reference"))


def test_second_writer_stops_cleanly(lab: Lab, reference: State) -> None:
    """While one nightly holds the write lock (the rerun after the "after-read" kill), a
    second one with KHABAR_LOCK_TIMEOUT=1 stops with exit 3 and a clear message; the first
    completes and the home is exactly a clean run (checked with the reruns above)."""
    k, second, overlapped = lab.result("after-read")
    assert overlapped, "the first writer had finished before the second was refused"
    assert second.code == 3, str(second)
    assert "another khabar run" in second.err, str(second)
    assert "Traceback" not in second.err
    assert k.rerun.code == 0, str(k.rerun)
    assert_same_result(k.final, reference)


# --- a second night on a home that holds the first -------------------------------------------


@pytest.fixture(scope="module")
def night2(lab: Lab) -> State:
    proc, state = lab.result("night2-reference")
    assert proc.code == 0, str(proc)
    return state


def test_second_night_reference(lab: Lab, reference: State, night2: State) -> None:
    """The second night adds three stories, an exact copy and updates one story."""
    assert night2.rows == reference.rows + 4 and night2.runs == 2
    copy_id = lab.night2_rows[-1]["id"]
    original = copy_id.removeprefix("copy-of-")
    # The copy joins its original's group, whose canonical story is the earliest (ties by
    # id: one of the original's translations may come first); an exact copy of that one.
    canonical = (night2.duplicates.get(original) or (original, None))[0]
    assert night2.duplicates[copy_id][0] == canonical
    if canonical == original:
        assert night2.duplicates[copy_id][1] == "exact"
    updated = lab.night2_rows[-2]["id"]
    assert night2.export[updated]["content_hash"] != reference.export[updated]["content_hash"]


@pytest.mark.parametrize("point", ["before-commit", "after-commit"])
def test_kill_on_the_second_night(lab: Lab, reference: State, night2: State, point: str) -> None:
    """Killed before its commit, the second night leaves the first intact, index included
    (`similar` still answers); killed after, the index is behind and reads say `reindex`.
    Either way the same nightly again gives exactly the clean second night."""
    k: Killed = lab.result(f"night2-{point}")
    assert k.crash.code == -9, str(k.crash)
    assert_reads_work(k.reads, committed=True)
    if point == "before-commit":
        assert k.reads["similar"].code == 0, str(k.reads["similar"])
        assert_same_result(k.after_kill, reference)
        assert k.after_kill.runs == 1
    else:
        assert k.reads["similar"].code == 3
        assert k.after_kill.export == night2.export
    assert k.rerun.code == 0, str(k.rerun)
    assert "Traceback" not in k.rerun.err
    final = k.final
    assert final.runs == (2 if point == "before-commit" else 3)
    if point == "after-commit":
        # The rerun rebuilds the index with the current language means, while the clean second
        # night added its vectors to the first night's index (the snapshot of older means), so
        # the similarity scores may differ in the last digits: compare the nearest story only.
        assert final.similar and night2.similar and final.similar[0] == night2.similar[0]
        final.similar = night2.similar
    assert_same_result(final, night2)
