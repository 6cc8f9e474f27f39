"""The console entry's quick exit (khabar/cli.py `run`): once torch is loaded the process
ends without the interpreter's teardown, and must lose nothing on the way out."""

from __future__ import annotations

import gc
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import SEEDS
from conftest import khabar as khabar_in_process

# Runs `run()` as the console script does, with an atexit hook (which must still run) and an
# object whose finalizer only a full teardown calls (which must not, or the path is untested).
WRAPPER = """
import atexit, gc, sys
atexit.register(lambda: print("ATEXIT-RAN", gc.get_freeze_count(), file=sys.stderr))
class Teardown:
    def __del__(self):
        print("TEARDOWN-RAN", file=sys.stderr)
keep = Teardown()
sys.argv = ["khabar", *sys.argv[1:]]
from khabar.cli import run
run()
"""


def khabar(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, timeout=600
    )


def test_a_nightly_run_exits_quickly_and_keeps_everything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x1"}\nnot json\n', encoding="utf-8")  # two rejections
    proc = khabar("--home", str(home), "nightly", "--json", str(SEEDS), str(bad))
    assert proc.returncode == 1, proc.stderr  # finished, some input rejected
    frozen = re.search(r"ATEXIT-RAN (\d+)", proc.stderr)
    assert frozen, proc.stderr
    assert int(frozen.group(1)) > 10_000, "torch's objects were not frozen out of the collector"
    assert "TEARDOWN-RAN" not in proc.stderr, "the quick exit was not taken"
    assert f"{bad}:2" in proc.stderr  # each rejection named, none lost
    summary = json.loads(proc.stdout)
    assert summary["new"] == 5 and summary["rejected"] == 2
    report = json.loads(Path(summary["report"]["json"]).read_text(encoding="utf-8"))
    assert report["summary"]["new"] == 5 and len(report["rejections"]) == 2
    assert Path(summary["report"]["html"]).read_text(encoding="utf-8").endswith("</html>")
    assert not (home / "khabar.db-wal").exists(), "the database was left open"
    db = sqlite3.connect(home / "khabar.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT count(*) FROM stories").fetchone() == (5,)
    assert db.execute("SELECT count(*) FROM stories WHERE event_id IS NULL").fetchone() == (0,)


def test_a_backfill_leaves_its_database_closed(tmp_path: Path) -> None:
    """Not only the nightly: every command's store closes with its context (khabar/cli.py)."""
    home = tmp_path / "home"
    proc = khabar("--home", str(home), "backfill", "--json", str(SEEDS))
    assert proc.returncode == 0, proc.stderr
    assert "TEARDOWN-RAN" not in proc.stderr, "the quick exit was not taken"
    assert json.loads(proc.stdout)["new"] == 5
    assert not (home / "khabar.db-wal").exists(), "the database was left open"
    db = sqlite3.connect(home / "khabar.db")
    assert db.execute("SELECT count(*) FROM stories WHERE event_id IS NULL").fetchone() == (0,)


def test_a_failure_keeps_its_exit_code_and_message(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "khabar.db").write_bytes(b"not a database" * 100)
    proc = khabar("--home", str(home), "nightly", str(SEEDS))
    assert proc.returncode == 3, proc.stderr
    assert "khabar.db" in proc.stderr and "Traceback" not in proc.stderr
    assert "ATEXIT-RAN" in proc.stderr


def test_a_caller_of_main_keeps_its_heap_as_it_was(tmp_path: Path) -> None:
    """Freezing is for the command's own process: click's runner (a caller) is not frozen."""
    before = gc.get_freeze_count()
    result = khabar_in_process(tmp_path / "home", "nightly", str(SEEDS))
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() == before
