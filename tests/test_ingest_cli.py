"""The command line end to end: ingest, export, similar, show, reindex, with the real model."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ID_000, ID_001, ID_003, SEED_IDS, SEEDS, khabar, seed_text

from khabar.store import DB_FILE

EXPORT_KEYS = {
    "id",
    "lang",
    "published_at",
    "event_id",
    "duplicate_of",
    "duplicate_kind",
    "duplicate_score",
}


def story_count(home: Path) -> int:
    with sqlite3.connect(home / DB_FILE) as db:
        return db.execute("SELECT COUNT(*) FROM stories").fetchone()[0]


def similar_ids(home: Path, story_id: str) -> list[str]:
    result = khabar(home, "similar", "--id", story_id, "--json")
    assert result.exit_code == 0, result.output
    return [hit["id"] for hit in json.loads(result.stdout)["results"]]


def write_jsonl(path: Path, lines: list[str | dict]) -> Path:
    text = "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


FA_GOOD = "رئیس جمهور ایران امروز به مسکو سفر کرد و با ولادیمیر پوتین درباره تجارت گفت‌وگو کرد."
FA_OTHER = "بانک مرکزی ایران نرخ بهره را برای مهار تورم افزایش داد."


# --- the seeded home (read-only) ------------------------------------------------------------


def test_ingest_seeds_summary(seeded_run) -> None:
    home, result = seeded_run
    assert result.exit_code == 0
    assert "new 5" in result.stderr
    assert "rejected 0" in result.stderr
    assert result.stdout == ""
    assert story_count(home) == 5


def test_export_fields_languages_and_dates(seeded_home: Path) -> None:
    result = khabar(seeded_home, "export")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 5
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == set(SEED_IDS)
    for row in rows:
        assert EXPORT_KEYS <= set(row)
        assert row["duplicate_of"] is None  # no seed copies another
        assert row["duplicate_kind"] in (None, "exact", "near", "translation")
    assert {i: r["lang"] for i, r in by_id.items()} == {
        i: ("ar" if i == ID_001 else "fa") for i in SEED_IDS
    }
    assert by_id[ID_000]["published_at"][:10] == "2025-10-12"
    assert by_id[ID_001]["published_at"][:10] == "2025-10-09"
    assert by_id[ID_003]["published_at"][:10] == "2023-09-19"


def test_similar_by_id_finds_the_translation(seeded_home: Path) -> None:
    result = khabar(seeded_home, "similar", "--id", ID_001, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"] == {"id": ID_001}
    ids = [hit["id"] for hit in data["results"]]
    assert ids[0] == ID_000
    assert ID_001 not in ids
    assert sorted(ids) == sorted(set(SEED_IDS) - {ID_001})
    scores = [hit["score"] for hit in data["results"]]
    assert scores == sorted(scores, reverse=True)


def test_similar_text_reads_persian(seeded_home: Path) -> None:
    text = "پوتین و علی‌اف، رؤسای جمهور روسیه و آذربایجان، در دوشنبه با هم دیدار کردند"
    result = khabar(seeded_home, "similar", text, "-k", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"]["lang"] == "fa"
    assert len(data["results"]) == 3
    assert {hit["id"] for hit in data["results"]} <= set(SEED_IDS)


def test_similar_table_output(seeded_home: Path) -> None:
    result = khabar(seeded_home, "similar", "--id", ID_001, "-k", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert ID_000 in lines[0]


def test_show_prints_the_text(seeded_home: Path) -> None:
    result = khabar(seeded_home, "show", ID_001)
    assert result.exit_code == 0, result.output
    assert "التقى الرئيس الروسي فلاديمير بوتين" in result.stdout
    assert "وقدم بوتين تعازيه الحارة" in result.stdout
    assert f"id:              {ID_001}" in result.stdout


def test_show_unknown_id(seeded_home: Path) -> None:
    result = khabar(seeded_home, "show", "unknown")
    assert result.exit_code == 3
    assert "no story" in result.stderr


def test_similar_unknown_id_exits_3(seeded_home: Path) -> None:
    result = khabar(seeded_home, "similar", "--id", "unknown")
    assert result.exit_code == 3
    assert "no story" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [[], ["some text", "--id", ID_001]])
def test_similar_needs_exactly_one_query(seeded_home: Path, args: list[str]) -> None:
    result = khabar(seeded_home, "similar", *args)
    assert result.exit_code == 2
    assert "TEXT or --id" in result.stderr


def test_similar_on_a_home_that_does_not_exist(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    result = khabar(home, "similar", "--id", "x")
    assert result.exit_code == 3
    assert "khabar ingest" in result.stderr
    assert "Traceback" not in result.output
    assert not home.exists()


def test_console_script_in_a_subprocess(seeded_home: Path) -> None:
    exe = Path(sys.executable).with_name("khabar")
    assert exe.is_file(), f"no console script next to {sys.executable}"
    env = {k: v for k, v in os.environ.items() if k not in ("KHABAR_HOME", "KHABAR_MODEL")}
    proc = subprocess.run(
        [str(exe), "--home", str(seeded_home), "similar", "--id", ID_001, "-k", "1", "--json"],
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    data = json.loads(proc.stdout.decode("utf-8"))
    assert [hit["id"] for hit in data["results"]] == [ID_000]


# --- writing into a copy of the seeded home -------------------------------------------------


def test_ingest_again_changes_nothing(home_copy: Path) -> None:
    before = khabar(home_copy, "export").stdout
    result = khabar(home_copy, "ingest", str(SEEDS))
    assert result.exit_code == 0, result.output
    assert "new 0" in result.stderr
    assert "unchanged 5" in result.stderr
    assert "embedded 0" in result.stderr
    assert story_count(home_copy) == 5
    assert khabar(home_copy, "export").stdout == before


def vector_keys(home: Path) -> tuple[set[str], set[str]]:
    """(embed keys with a stored vector, embed keys of stored stories)."""
    with sqlite3.connect(home / DB_FILE) as db:
        held = {r[0] for r in db.execute("SELECT embed_key FROM vectors")}
        used = {r[0] for r in db.execute("SELECT embed_key FROM stories")}
    return held, used


def test_update_changes_the_story_and_its_neighbours(home_copy: Path, tmp_path: Path) -> None:
    assert similar_ids(home_copy, ID_003)[0] != ID_000
    with sqlite3.connect(home_copy / DB_FILE) as db:
        (old_key,) = db.execute("SELECT embed_key FROM stories WHERE id=?", (ID_003,)).fetchone()
    new_text = seed_text(ID_000) + "\nاین خبر به‌روزرسانی شده است."
    path = write_jsonl(tmp_path / "update.jsonl", [{"id": ID_003, "text": new_text}])
    result = khabar(home_copy, "ingest", str(path))
    assert result.exit_code == 0, result.output
    assert "updated 1" in result.stderr
    assert "new 0" in result.stderr
    assert "embedded 1" in result.stderr
    assert story_count(home_copy) == 5
    held, used = vector_keys(home_copy)
    assert old_key not in held and held == used  # the old text's vector went with it
    assert similar_ids(home_copy, ID_003)[0] == ID_000
    shown = khabar(home_copy, "show", ID_003)
    assert "به‌روزرسانی شده" in shown.stdout or "بهروزرسانی شده" in shown.stdout
    # Updating again with the same row changes nothing.
    again = khabar(home_copy, "ingest", str(path))
    assert "updated 0" in again.stderr and "unchanged 1" in again.stderr


def test_corrupt_index_then_reindex(home_copy: Path) -> None:
    (home_copy / "index.faiss").write_bytes(b"\x13garbage\x00" * 1000)
    broken = khabar(home_copy, "similar", "--id", ID_001)
    assert broken.exit_code == 3
    assert "khabar reindex" in broken.stderr
    assert "Traceback" not in broken.output
    fixed = khabar(home_copy, "reindex")
    assert fixed.exit_code == 0, fixed.output
    assert "5 vectors" in fixed.stderr
    assert similar_ids(home_copy, ID_001)[0] == ID_000


# --- fresh homes ----------------------------------------------------------------------------


def test_rejections_are_named_and_good_rows_kept(tmp_path: Path, loaded_model) -> None:
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            '{"id": "broken", "text": "no closing quote',
            {"title": "بدون شناسه", "text": FA_OTHER},
            {"id": "notext", "title": "بدون متن"},
            {"id": "empty", "text": "   "},
            {"id": "good1", "text": FA_GOOD, "published_at": "2025-10-01"},
        ],
    )
    home = tmp_path / "home"
    result = khabar(home, "ingest", str(path))
    assert result.exit_code == 1, result.output
    err = result.stderr
    for line, reason in [(1, "JSON"), (2, "id"), (3, "text"), (4, "empty")]:
        (hit,) = [x for x in err.splitlines() if x.startswith(f"{path}:{line}:")]
        assert reason in hit, hit
    assert f"{path}:5:" not in err
    assert "new 1" in err and "rejected 4" in err
    shown = khabar(home, "show", "good1")
    assert shown.exit_code == 0
    assert "ولادیمیر پوتین" in shown.stdout
    assert "2025-10-01" in shown.stdout
    for missing in ("broken", "notext", "empty"):
        assert khabar(home, "show", missing).exit_code == 3


def test_csv_with_id_text_title(tmp_path: Path, loaded_model) -> None:
    path = tmp_path / "stories.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "title"])
        writer.writerow(["c1", FA_GOOD, "سفر به مسکو"])
        writer.writerow(["c2", FA_OTHER + "\nخط دوم, با ویرگول", "نرخ بهره"])
    home = tmp_path / "home"
    result = khabar(home, "ingest", str(path))
    assert result.exit_code == 0, result.output
    assert "new 2" in result.stderr
    data = json.loads(khabar(home, "show", "c2", "--json").stdout)
    assert data["title"] == "نرخ بهره"
    assert data["lang"] == "fa"
    assert "خط دوم" in data["text"]
    assert data["source"] == f"{path}:3"


def test_csv_without_text_column(tmp_path: Path) -> None:
    path = tmp_path / "notext.csv"
    path.write_text("id,title,body\nx1,عنوان,متن\n", encoding="utf-8")
    result = khabar(tmp_path / "home", "ingest", str(path))
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if ": rejected:" in x]
    assert line.startswith(f"{path}:")
    assert "text" in line.split(": rejected:")[1]


def test_stdin(tmp_path: Path, loaded_model) -> None:
    home = tmp_path / "home"
    rows = [{"id": "s1", "text": FA_GOOD}, {"id": "s2", "text": FA_OTHER, "lang": "fa"}]
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    result = khabar(home, "ingest", "-", input=payload.encode("utf-8"))
    assert result.exit_code == 0, result.output
    assert "new 2" in result.stderr
    shown = khabar(home, "show", "s2", "--json")
    assert json.loads(shown.stdout)["source"] == "<stdin>:2"


def test_same_id_twice_in_one_file(tmp_path: Path, loaded_model) -> None:
    path = write_jsonl(
        tmp_path / "dup.jsonl",
        [{"id": "d1", "text": FA_GOOD}, {"id": "d1", "text": FA_OTHER}],
    )
    home = tmp_path / "home"
    result = khabar(home, "ingest", str(path))
    assert result.exit_code == 1, result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith(f"{path}:2:")]
    assert f"{path}:1" in line  # names where the kept version came from
    assert "new 1" in result.stderr and "rejected 1" in result.stderr
    shown = khabar(home, "show", "d1")
    assert "ولادیمیر پوتین" in shown.stdout
    assert "بانک مرکزی" not in shown.stdout
    assert story_count(home) == 1


def test_same_row_twice_in_one_file_is_not_a_rejection(tmp_path: Path, loaded_model) -> None:
    row = {"id": "d2", "text": FA_GOOD}
    path = write_jsonl(tmp_path / "twice.jsonl", [row, row])
    result = khabar(tmp_path / "home", "ingest", str(path))
    assert result.exit_code == 0, result.output
    assert "new 1" in result.stderr and "unchanged 1" in result.stderr
