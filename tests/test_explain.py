"""Why: `explain`, `compare`, `show` with evidence, dates from files marked, older homes
migrated. Real model, real CLI, the seed stories."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import ID_000, ID_001, ID_002, ID_004, SEEDS, khabar

from khabar.store import SCHEMA_VERSION


@pytest.fixture(scope="module")
def night(tmp_path_factory, loaded_model) -> Path:
    """The seeds, and a trimmed republication of 002 the next day: a near copy to explain."""
    home = tmp_path_factory.mktemp("explain") / "home"
    assert khabar(home, "nightly", str(SEEDS)).exit_code in (0,)
    text = (SEEDS / f"{ID_002}.txt").read_text(encoding="utf-8")
    lines = [x for x in text.splitlines() if x.strip()]
    copy = {
        "id": "002-copy",
        "title": lines[0],
        "text": "\n".join(lines[: max(3, len(lines) * 2 // 3)]),
        "published_at": "2023-01-11",
    }
    src = home.parent / "copy.jsonl"
    src.write_text(json.dumps(copy, ensure_ascii=False) + "\n", encoding="utf-8")
    result = khabar(home, "nightly", str(src))
    assert result.exit_code == 0, result.output
    return home


def test_explain_a_near_copy(night: Path) -> None:
    result = khabar(night, "explain", "002-copy", ID_002, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["duplicate"]["kind"] == "near"
    assert data["stored"]["same_duplicate_group"] and data["stored"]["same_event"]
    stored = data["stored"]["duplicate_evidence"]["002-copy"]
    assert stored["kind"] == "near" and stored["probability"] > 0
    assert {c["feature"] for c in data["duplicate"]["contributions"]} >= {"cosine"}
    text = khabar(night, "explain", "002-copy", ID_002)
    assert "duplicate:  near" in text.stdout and "stored:     the same event" in text.stdout


def test_explain_two_articles_of_one_event_are_not_translations(night: Path) -> None:
    """000 (fa) and 001 (ar): another language, another article: the figures rule says so."""
    data = json.loads(khabar(night, "explain", ID_000, ID_001, "--json").stdout)
    assert data["duplicate"]["kind"] is None
    assert "translation keeps its numbers" in data["duplicate"]["veto"]
    assert data["event"]["gap_days"] == 3.0 and data["event"]["time_penalty"] > 0
    assert [data["a"]["lang"], data["b"]["lang"]] == ["fa", "ar"]


def test_explain_far_apart_in_time_says_the_event_is_closed(night: Path) -> None:
    out = khabar(night, "explain", ID_000, ID_002).stdout
    assert "days apart, and an event closes" in out


def test_explain_errors(night: Path) -> None:
    missing = khabar(night, "explain", ID_000, "no-such-story")
    assert missing.exit_code == 3 and "no-such-story" in missing.output
    same = khabar(night, "explain", ID_000, ID_000)
    assert same.exit_code == 2


def test_compare_refuses_a_changed_fact(tmp_path: Path) -> None:
    a = "مستشفى مصري ينفي التسبب في وفاة سائح بريطاني بسبب النفقات"
    b = "مستشفى مصري يعلن تسببه في وفاة سائح بريطاني بسبب النفقات"
    result = khabar(tmp_path / "nohome", "compare", a, b, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["duplicate"]["kind"] is None and "negates" in data["duplicate"]["veto"]
    assert data["event"]["same_event"]  # the same news item, told the other way round
    assert not (tmp_path / "nohome").exists()  # nothing stored
    same = khabar(tmp_path / "nohome", "compare", a, a + " ")
    assert "duplicate:  exact" in same.stdout
    empty = khabar(tmp_path / "nohome", "compare", a, "   ")
    assert empty.exit_code == 2


def test_show_lists_copies_and_event_evidence(night: Path) -> None:
    data = json.loads(khabar(night, "show", ID_002, "--json").stdout)
    assert [c["id"] for c in data["copies"]] == ["002-copy"]
    assert data["event_evidence"]["rule"] in ("opened", "joined")
    copy = json.loads(khabar(night, "show", "002-copy", "--json").stdout)
    assert copy["duplicate_evidence"]["kind"] == "near"
    assert copy["event_evidence"] == {"rule": "duplicate", "of": ID_002}
    text = khabar(night, "show", ID_002).stdout
    assert "copied by:       002-copy (near" in text
    assert "event:" in text


def test_dates_from_files_are_marked(night: Path) -> None:
    """004's text has no date khabar can read: its date is the file's, and says so."""
    row = json.loads(khabar(night, "show", ID_004, "--json").stdout)
    assert row["date_source"] == "file"
    events = khabar(night, "events")
    line = next(x for x in events.stdout.splitlines() if x.startswith(row["event_id"]))
    assert "*" in line and "files' times" in events.stderr
    exported = {
        json.loads(x)["id"]: json.loads(x) for x in khabar(night, "export").stdout.splitlines()
    }
    assert exported[ID_004]["date_source"] == "file"
    assert exported[ID_001]["date_source"] != "file"
    stories = khabar(night, "events", "--id", row["event_id"]).stdout
    assert row["published_at"][:10] + "*" in stories
    page = (night / "reports" / "latest.html").read_text(encoding="utf-8")
    assert "file date" in page or ID_004 not in page


def test_a_schema_1_home_is_read_and_then_upgraded(night: Path, tmp_path: Path) -> None:
    """A home written before the evidence columns: readers work on it as it is, the next
    writer adds the columns in one transaction."""
    old = tmp_path / "old"
    shutil.copytree(night, old)
    db = sqlite3.connect(old / "khabar.db")
    for column in ("duplicate_evidence", "event_score", "event_evidence"):
        db.execute(f"ALTER TABLE stories DROP COLUMN {column}")
    db.execute("DROP TABLE lang_days")  # schema 3
    db.execute("DROP TABLE sketches")  # schema 4
    db.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    db.commit()
    db.close()
    shown = khabar(old, "show", ID_002, "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["event_evidence"] is None
    assert khabar(old, "ingest", str(SEEDS)).exit_code == 0
    db = sqlite3.connect(old / "khabar.db")
    columns = {r[1] for r in db.execute("PRAGMA table_info(stories)")}
    version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    counted = db.execute("SELECT SUM(count) FROM lang_days").fetchone()[0]
    sketched = db.execute("SELECT COUNT(*) FROM sketches").fetchone()[0]
    stories = db.execute("SELECT COUNT(*) FROM stories").fetchone()[0]
    db.close()
    assert {"duplicate_evidence", "event_score", "event_evidence"} <= columns
    assert version == str(SCHEMA_VERSION)
    assert counted == stories  # the per-day language sums, rebuilt from the stories
    assert sketched == 0  # older stories are not originals for near-verbatim reuse
