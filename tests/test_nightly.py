"""The nightly job end to end through the CLI: real model, SQLite, FAISS, report and eval.

Homes that tests only read are built once per module; tests that write work on a copy.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    ID_000,
    ID_001,
    ID_002,
    ID_003,
    ID_004,
    SEED_IDS,
    SEEDS,
    SHARED_DATA,
    khabar,
)

NTREX = SHARED_DATA / "ntrex-dev" / "docs.jsonl"
EXAPPC = SHARED_DATA / "exappc-fa-dev" / "pairs.jsonl"

pytestmark = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared data folder {SHARED_DATA} absent"
)

SHARK = "ntrex-upi.176266"  # en, fa, ar versions of one story
BEAUTY = "ntrex-guardian.221754"
TRUMP = "ntrex-cnbc.com.6790"
SHARK_EN, SHARK_FA, SHARK_AR = f"{SHARK}-en", f"{SHARK}-fa", f"{SHARK}-ar"
BEAUTY_EN, TRUMP_EN = f"{BEAUTY}-en", f"{TRUMP}-en"
NIGHT1_NTREX = (SHARK_EN, BEAUTY_EN, TRUMP_EN)


def ntrex_docs() -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in NTREX.read_text(encoding="utf-8").splitlines() if line]
    return {r["id"]: r for r in rows}


def story(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    row = {k: doc[k] for k in ("id", "lang", "title", "text", "outlet")}
    row.update(changes)
    return row


def trimmed(text: str) -> str:
    """The ending cut by a third of its lines."""
    lines = text.split("\n")
    return "\n".join(lines[: len(lines) - len(lines) // 3])


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def nightly(home: Path, *paths: Path | str) -> Any:
    result = khabar(home, "nightly", *map(str, paths))
    assert result.exit_code == 0, result.output
    return result


def export(home: Path) -> dict[str, dict[str, Any]]:
    result = khabar(home, "export")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {r["id"]: r for r in rows}


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- the seeds, one night -------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeds_night(tmp_path_factory, loaded_model):
    """A home after `nightly` on the seeds folder: (home, result, export)."""
    home = tmp_path_factory.mktemp("seeds-night") / "home"
    result = nightly(home, SEEDS)
    return home, result, export(home)


def test_seed_events(seeds_night) -> None:
    _, result, rows = seeds_night
    assert set(rows) == set(SEED_IDS)
    assert "new 5" in result.stderr
    assert "clustered 5" in result.stderr
    events = {i: rows[i]["event_id"] for i in SEED_IDS}
    assert all(events.values())
    others = [events[ID_002], events[ID_003], events[ID_004]]
    assert len(set(others)) == 3
    assert events[ID_000] not in others and events[ID_001] not in others


@pytest.mark.xfail(
    strict=True,
    reason="a known miss of the learned decisions: 000 (fa) and 001 (ar) report one event "
    "three days apart; their pair probability is 0.82 without time, and the fixed time prior "
    "(0.15 cosine at most, Gaussian over 3 days; no dated data to fit it) takes it to 0.61, "
    "under the threshold 0.65 fitted on undated pairs. `khabar explain` shows it; the suite's "
    "seeds row reports it.",
)
def test_seed_000_and_001_are_one_event(seeds_night) -> None:
    _, _, rows = seeds_night
    assert rows[ID_000]["event_id"] == rows[ID_001]["event_id"]


def test_seed_articles_are_not_translations_of_each_other(seeds_night) -> None:
    """000 (fa, khabaronline: the Kremlin spokesman on Sunday, contacts not disrupted) and
    001 (ar, Sputnik: the Putin-Aliyev meeting in Dushanbe on Thursday) are two different
    articles about one event. One event, yes; but `translation` means "another language,
    same article" (DESIGN.md, cluster/duplicates.py), so neither may be flagged a duplicate."""
    _, _, rows = seeds_night
    flagged = {
        i: (r["duplicate_kind"], r["duplicate_of"], r["duplicate_score"])
        for i, r in rows.items()
        if r["duplicate_of"]
    }
    assert flagged == {}


def test_rerun_same_night_changes_nothing(seeds_night, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(seeds_night[0], home)
    before = khabar(home, "export").stdout
    again = nightly(home, SEEDS)
    assert "new 0" in again.stderr
    assert "embedded 0" in again.stderr
    assert "unchanged 5" in again.stderr
    assert "clustered 0" in again.stderr
    assert khabar(home, "export").stdout == before


def test_report_files(seeds_night) -> None:
    home, result, rows = seeds_night
    reports = home / "reports"
    assert (reports / "latest.html").is_file()
    assert (reports / "latest.json").is_file()
    assert "report:" in result.stderr
    report = json.loads((reports / "latest.json").read_text(encoding="utf-8"))
    event_ids = {r["event_id"] for r in rows.values()}
    assert {e["id"] for e in report["events"]} == event_ids
    assert report["totals"]["events"] == len(event_ids) >= 4
    listed = {s["id"]: e["id"] for e in report["events"] for s in e["stories"]}
    assert listed == {i: rows[i]["event_id"] for i in SEED_IDS}
    for e in report["events"]:
        assert e["size"] == len(e["stories"]) == sum(e["languages"].values())
    arabic = next(e for e in report["events"] if e["id"] == rows[ID_001]["event_id"])
    assert arabic["languages"].get("ar") == 1
    page = (reports / "latest.html").read_text(encoding="utf-8")
    assert "<svg" in page
    for eid in event_ids:
        assert eid in page
    assert "dir='auto'" in page


def test_report_after_ingest_then_nightly_lists_the_new_events(
    tmp_path: Path, loaded_model
) -> None:
    """Stories brought in by `ingest` are clustered by the next `nightly`; the report is
    "the events this run touched" (khabar/report.py), so it must list those events.
    report.run_events selects stories by `updated_at >= run start`, but clustering only
    sets event_id/duplicate_* and never bumps updated_at, so the report comes out empty."""
    home = tmp_path / "home"
    path = write_jsonl(
        tmp_path / "day.jsonl",
        [
            {
                "id": "r1",
                "text": "بانک مرکزی ایران نرخ بهره را برای مهار تورم افزایش داد.",
                "published_at": "2024-03-01",
            },
            {
                "id": "r2",
                "text": "تیم ملی فوتبال ایران در بازی دوستانه با ژاپن به برتری رسید.",
                "published_at": "2024-03-01",
            },
        ],
    )
    ingested = khabar(home, "ingest", str(path))
    assert ingested.exit_code == 0, ingested.output
    time.sleep(1.1)  # timestamps have whole seconds: the night starts after the ingest
    result = nightly(home, path)
    assert "clustered 2" in result.stderr
    rows = export(home)
    event_ids = {rows["r1"]["event_id"], rows["r2"]["event_id"]}
    assert None not in event_ids
    report = json.loads((home / "reports" / "latest.json").read_text(encoding="utf-8"))
    assert {e["id"] for e in report["events"]} == event_ids


# --- two nights -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_nights(seeds_night, tmp_path_factory):
    """Night 1: three English NTREX stories (2019-06-01) and the seeds. Night 2 (2019-06-02):
    an exact copy of the shark story under a new id, a trimmed copy of the beauty story with a
    new headline, the Persian and Arabic versions of the shark story, and a copy of the Trump
    story with one number changed."""
    docs = ntrex_docs()
    base = tmp_path_factory.mktemp("two-nights")
    home = base / "home"
    shutil.copytree(seeds_night[0], home)  # the seeds are already in: nothing to embed again
    night1 = write_jsonl(
        base / "night1.jsonl",
        [story(docs[i], published_at="2019-06-01") for i in NIGHT1_NTREX],
    )
    first = nightly(home, night1, SEEDS)
    after1 = export(home)

    day2 = "2019-06-02"
    trump = docs[TRUMP_EN]["text"]
    assert trump.count("about 200 people") == 1
    night2 = write_jsonl(
        base / "night2.jsonl",
        [
            story(docs[SHARK_EN], id="copy-exact", published_at=day2),
            story(
                docs[BEAUTY_EN],
                id="copy-trim",
                title="Sainsbury's to widen its beauty aisles in UK stores",
                text=trimmed(docs[BEAUTY_EN]["text"]),
                published_at=day2,
            ),
            story(docs[SHARK_FA], published_at=day2),
            story(docs[SHARK_AR], published_at=day2),
            story(
                docs[TRUMP_EN],
                id="copy-fact",
                text=trump.replace("about 200 people", "about 300 people"),
                published_at=day2,
            ),
        ],
    )
    second = nightly(home, night2)
    return home, first, after1, second, export(home)


def test_night_one(two_nights) -> None:
    _, first, after1, _, _ = two_nights
    assert "new 3" in first.stderr and "unchanged 5" in first.stderr
    assert "embedded 3" in first.stderr
    assert set(after1) == set(SEED_IDS) | set(NIGHT1_NTREX)
    for i in NIGHT1_NTREX:
        assert after1[i]["event_id"] and after1[i]["event_id"].startswith("ev-20190601-")
        assert after1[i]["duplicate_of"] is None
    assert len({after1[i]["event_id"] for i in NIGHT1_NTREX}) == 3


def test_night_two_keeps_night_one_events(two_nights) -> None:
    _, _, after1, second, after2 = two_nights
    assert "new 5" in second.stderr
    for i, row in after1.items():
        assert after2[i]["event_id"] == row["event_id"], i


def test_exact_copy(two_nights) -> None:
    _, _, _, _, rows = two_nights
    copy = rows["copy-exact"]
    assert copy["duplicate_of"] == SHARK_EN
    assert copy["duplicate_kind"] == "exact"
    assert copy["duplicate_score"] == 1.0
    assert copy["event_id"] == rows[SHARK_EN]["event_id"]
    assert copy["content_hash"] == rows[SHARK_EN]["content_hash"]


def test_trimmed_copy_is_near(two_nights) -> None:
    _, _, _, _, rows = two_nights
    copy = rows["copy-trim"]
    assert copy["duplicate_of"] == BEAUTY_EN
    assert copy["duplicate_kind"] == "near"
    assert copy["duplicate_score"] >= 0.8
    assert copy["event_id"] == rows[BEAUTY_EN]["event_id"]


def test_translations_join_the_english_story(two_nights) -> None:
    _, _, _, second, rows = two_nights
    for i in (SHARK_FA, SHARK_AR):
        assert rows[i]["duplicate_of"] == SHARK_EN, i
        assert rows[i]["duplicate_kind"] == "translation", i
        assert rows[i]["event_id"] == rows[SHARK_EN]["event_id"], i
    assert "translation 2" in second.stderr
    assert "exact 1" in second.stderr


def test_changed_fact_is_not_a_near_duplicate(two_nights) -> None:
    _, _, _, _, rows = two_nights
    changed = rows["copy-fact"]
    assert changed["duplicate_of"] is None
    assert changed["duplicate_kind"] is None
    assert rows[TRUMP_EN]["duplicate_of"] is None


def test_duplicates_json(two_nights) -> None:
    home = two_nights[0]
    result = khabar(home, "duplicates", "--json")
    assert result.exit_code == 0, result.output
    dups = {r["id"]: (r["duplicate_kind"], r["duplicate_of"]) for r in json_lines(result.stdout)}
    expected = {
        "copy-exact": ("exact", SHARK_EN),
        "copy-trim": ("near", BEAUTY_EN),
        SHARK_FA: ("translation", SHARK_EN),
        SHARK_AR: ("translation", SHARK_EN),
    }
    assert {k: v for k, v in dups.items() if k in expected} == expected
    assert "copy-fact" not in dups
    table = khabar(home, "duplicates")
    assert table.exit_code == 0
    assert "copy-exact" in table.stdout and "exact" in table.stdout


def test_events_json_and_by_id(two_nights) -> None:
    home, _, _, _, rows = two_nights
    shark_event = rows[SHARK_EN]["event_id"]
    members = {SHARK_EN, "copy-exact", SHARK_FA, SHARK_AR}
    result = khabar(home, "events", "--json")
    assert result.exit_code == 0, result.output
    listed = {e["id"]: e for e in json_lines(result.stdout)}
    assert set(listed) == {r["event_id"] for r in rows.values()}
    ev = listed[shark_event]
    assert ev["stories"] == 4
    assert {s["id"] for s in ev["stories_list"]} == members
    assert set(ev["langs"].split(",")) == {"en", "fa", "ar"}
    assert ev["duplicates"] == 3

    one = khabar(home, "events", "--id", shark_event, "--json")
    assert one.exit_code == 0, one.output
    data = json.loads(one.stdout)
    assert data["id"] == shark_event
    assert {s["id"] for s in data["stories"]} == members
    text = khabar(home, "events", "--id", shark_event)
    assert text.exit_code == 0, text.output
    for i in members:
        assert i in text.stdout
    assert f"[exact of {SHARK_EN}]" in text.stdout
    missing = khabar(home, "events", "--id", "ev-19000101-0001")
    assert missing.exit_code == 3
    assert "no event" in missing.stderr


def test_show_duplicate(two_nights) -> None:
    home = two_nights[0]
    result = khabar(home, "show", SHARK_FA)
    assert result.exit_code == 0, result.output
    assert f"duplicate_of:    {SHARK_EN}" in result.stdout
    assert "duplicate_kind:  translation" in result.stdout
    data = json.loads(khabar(home, "show", "copy-exact", "--json").stdout)
    assert (data["duplicate_of"], data["duplicate_kind"]) == (SHARK_EN, "exact")


def test_report_of_night_two(two_nights) -> None:
    home, _, _, _, rows = two_nights
    report = json.loads((home / "reports" / "latest.json").read_text(encoding="utf-8"))
    events = {e["id"]: e for e in report["events"]}
    shark = events[rows[SHARK_EN]["event_id"]]
    assert {s["id"] for s in shark["stories"]} == {SHARK_EN, "copy-exact", SHARK_FA, SHARK_AR}
    assert report["totals"]["multilingual_events"] >= 1
    page = (home / "reports" / "latest.html").read_text(encoding="utf-8")
    assert rows[SHARK_EN]["event_id"] in page and "<svg" in page


def test_exact_flag_follows_an_updated_text(two_nights, tmp_path: Path) -> None:
    """A changed text under a known id is an update (DESIGN.md). When the exact copy
    `copy-exact` is updated to another story's text, its content hash changes, but it keeps
    duplicate_kind "exact" of the shark story: updated stories are never re-examined
    (Clustering.run only looks at stories without an event). An "exact" flag must always
    name a story with the same content hash."""
    docs = ntrex_docs()
    home = tmp_path / "home"
    shutil.copytree(two_nights[0], home)
    update = write_jsonl(
        tmp_path / "update.jsonl",
        [story(docs[BEAUTY_EN], id="copy-exact", published_at="2019-06-02")],
    )
    result = nightly(home, update)
    assert "updated 1" in result.stderr
    rows = export(home)
    assert rows["copy-exact"]["content_hash"] != rows[SHARK_EN]["content_hash"]
    wrong = {
        i: r["duplicate_of"]
        for i, r in rows.items()
        if r["duplicate_kind"] == "exact"
        and r["content_hash"] != rows[r["duplicate_of"]]["content_hash"]
    }
    assert wrong == {}


def test_changed_fact_not_near_through_a_trimmed_copy(tmp_path: Path, loaded_model) -> None:
    """A copy with one number changed (200 -> 300) conflicts with the original and is not a
    near duplicate of it on its own (test_changed_fact_is_not_a_near_duplicate). But when a
    trimmed copy (which lost that number) arrives first, the changed copy links "near" to the
    trimmed one (no conflict: the trimmed copy has no number the changed one lacks), the union
    of links makes one group, and the changed copy ends flagged "near" of the original, the
    very pair fact_conflict forbids. Clustering.run / canonical_groups never re-check the
    member against its canonical story."""
    docs = ntrex_docs()
    orig = docs[TRUMP_EN]
    path = write_jsonl(
        tmp_path / "night.jsonl",
        [
            story(orig, published_at="2019-06-01"),
            story(orig, id="trim", text=trimmed(orig["text"]), published_at="2019-06-02"),
            story(
                orig,
                id="fact",
                text=orig["text"].replace("about 200 people", "about 300 people"),
                published_at="2019-06-02",
            ),
        ],
    )
    home = tmp_path / "home"
    nightly(home, path)
    rows = export(home)
    assert "200" not in trimmed(orig["text"])
    assert (rows["trim"]["duplicate_kind"], rows["trim"]["duplicate_of"]) == ("near", TRUMP_EN)
    fact = rows["fact"]
    assert not (fact["duplicate_kind"] == "near" and fact["duplicate_of"] == TRUMP_EN), fact


def test_a_copy_keeps_the_copy_it_joined_through(tmp_path: Path, loaded_model) -> None:
    """A story whose own link is to a copy, not to the group's canonical story, says so
    (`via`), and a later night, which finds the group in its window, leaves that decision as
    it stands rather than writing it again without `via`."""
    doc = ntrex_docs()[BEAUTY_EN]
    short = trimmed(doc["text"])
    nights = [
        [story(doc, published_at="2019-06-01")],
        [story(doc, id="trim", text=short, published_at="2019-06-02")],
        # the trimmed text exactly, under another headline: an exact copy of "trim"
        [story(doc, id="again", title="Beauty aisles grow", text=short, published_at="2019-06-03")],
        [story(ntrex_docs()[SHARK_EN], published_at="2019-06-04")],
    ]
    home = tmp_path / "home"
    seen = []
    q = "SELECT duplicate_of, duplicate_kind, duplicate_evidence FROM stories WHERE id='again'"
    for n, rows in enumerate(nights):
        nightly(home, write_jsonl(tmp_path / f"night{n}.jsonl", rows))
        with closing(sqlite3.connect(home / "khabar.db")) as db:
            seen.append(db.execute(q).fetchone())
    third, fourth = seen[2], seen[3]
    assert third[:2] == (BEAUTY_EN, "near")
    assert json.loads(third[2])["via"] == "trim"
    assert fourth == third


# --- eval -----------------------------------------------------------------------------------


def test_eval_documents(tmp_path: Path, loaded_model) -> None:
    docs = ntrex_docs()
    rows = [
        story(docs[f"{e}-{lang}"], event_id=e)
        for e in (SHARK, BEAUTY)
        for lang in ("en", "fa", "ar")
    ]
    path = write_jsonl(tmp_path / "labelled.jsonl", rows)
    result = khabar(tmp_path, "eval", str(path), "--published-at", "2019-06-01", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "events"
    assert data["stories"] == 6
    assert data["rejected"] == 0
    ev = data["events"]
    assert ev["bcubed_f1"] == pytest.approx(1.0)
    assert ev["ari"] == pytest.approx(1.0)
    assert (ev["gold_clusters"], ev["pred_clusters"]) == (2, 2)
    assert data["duplicates"]["tp"] + data["duplicates"]["fn"] == 6  # 3 pairs per story
    assert not (tmp_path / "khabar.db").exists()  # ran in a temporary home


def test_eval_pairs(tmp_path: Path, loaded_model) -> None:
    pairs = [json.loads(line) for line in EXAPPC.read_text(encoding="utf-8").splitlines()[:6]]
    labels = [bool(p["label"]) for p in pairs]
    assert any(labels) and not all(labels)
    path = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    result = khabar(tmp_path, "eval", str(path), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "pairs"
    assert data["pairs"] == 6
    assert data["positives"] == sum(labels)
    assert data["stories"] == 12
    for name in ("same_event_or_duplicate", "same_event", "duplicate"):
        m = data[name]
        assert m["tp"] + m["fn"] == sum(labels), name
        assert 0.0 <= m["precision"] <= 1.0 and 0.0 <= m["recall"] <= 1.0
        tn = round(m["accuracy"] * 6) - m["tp"]
        assert m["tp"] + m["fp"] + m["fn"] + tn == 6, name

    text = khabar(tmp_path, "eval", str(path))
    assert text.exit_code == 0, text.output
    assert "(pairs)" in text.stdout
    for name in ("same_event_or_duplicate", "same_event", "duplicate"):
        line = next(x for x in text.stdout.splitlines() if x.strip().startswith(name + " "))
        assert "precision" in line and "recall" in line and "f1" in line and "tp" in line


def test_eval_rejects_an_unlabelled_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "plain.jsonl", [{"id": "x", "text": "متن"}])
    result = khabar(tmp_path, "eval", str(path))
    assert result.exit_code == 3
    assert "event_id" in result.stderr
