"""Near-verbatim copies take their original's vector (khabar/stages/reuse.py), through the
real nightly job and backfill, on real FarExStance stories that an outlet republished with
its own credit line, an ad or a dateline."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO, SHARED_DATA, khabar

FAREX = SHARED_DATA / "farexstance-fa-dev" / "docs.jsonl"
pytestmark = pytest.mark.skipif(not FAREX.is_file(), reason=f"{FAREX} absent")

# Pairs `scripts/eval_reuse.py` reports: the same agency text, one with a site's credit line
# and an ad (3666/11403), one with a credit line (7006/7007); 7023 holds 7007 whole but opens
# with a different quote, so the model reads other words.
ORIGINAL, COPY = "farex-3666", "farex-11403"
ORIGINAL2, COPY2 = "farex-7006", "farex-7007"
OTHER_LEAD = "farex-7023"
UNRELATED = "farex-63"


def docs() -> dict[str, dict[str, Any]]:
    rows = [json.loads(x) for x in FAREX.read_text(encoding="utf-8").splitlines() if x]
    return {r["id"]: r for r in rows}


def night(path: Path, day: str, rows: list[dict[str, Any]]) -> Path:
    keep = ("id", "lang", "title", "text")
    path.write_text(
        "".join(
            json.dumps(
                {**{k: r[k] for k in keep if k in r}, "published_at": day}, ensure_ascii=False
            )
            + "\n"
            for r in rows
        ),
        encoding="utf-8",
    )
    return path


def stored(home: Path) -> dict[str, dict[str, Any]]:
    db = sqlite3.connect(home / "khabar.db")
    db.row_factory = sqlite3.Row
    q = (
        "SELECT s.id, s.embed_key, s.duplicate_of, s.duplicate_kind, s.event_id, v.vector,"
        " k.vid IS NOT NULL AS sketched"
        " FROM stories s JOIN vectors v USING(embed_key) LEFT JOIN sketches k USING(vid)"
    )
    out = {r["id"]: dict(r) for r in db.execute(q)}
    db.close()
    return out


def nightly(home: Path, path: Path) -> dict[str, Any]:
    r = khabar(home, "nightly", "--json", str(path))
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> tuple[Path, list[Path], list[dict[str, Any]]]:
    d = docs()
    root = tmp_path_factory.mktemp("reuse")
    files = [
        night(root / "day1.jsonl", "2021-01-01", [d[ORIGINAL], d[ORIGINAL2]]),
        night(root / "day2.jsonl", "2021-01-02", [d[COPY], d[COPY2], d[OTHER_LEAD], d[UNRELATED]]),
    ]
    home = root / "home"
    summaries = [nightly(home, f) for f in files]
    return home, files, summaries


def test_a_republished_copy_takes_its_originals_vector(nights) -> None:
    home, _, (first, second) = nights
    assert (first["embedded"], first["reused"]) == (2, 0)
    # Two copies take a vector; the story with its own lead and the unrelated one are embedded.
    assert (second["embedded"], second["reused"]) == (2, 2)
    s = stored(home)
    for original, copy in ((ORIGINAL, COPY), (ORIGINAL2, COPY2)):
        assert s[copy]["embed_key"] != s[original]["embed_key"]  # different texts...
        assert s[copy]["vector"] == s[original]["vector"]  # ...one vector
        assert (s[copy]["duplicate_of"], s[copy]["duplicate_kind"]) == (original, "near")
        assert s[copy]["event_id"] == s[original]["event_id"]
        assert s[original]["sketched"] and not s[copy]["sketched"]  # no chains
    assert s[OTHER_LEAD]["vector"] != s[ORIGINAL2]["vector"]
    assert s[OTHER_LEAD]["sketched"] and s[UNRELATED]["sketched"]


def test_the_summary_line_says_how_many_were_reused(nights, tmp_path: Path) -> None:
    _, files, _ = nights
    r = khabar(tmp_path / "home", "nightly", *map(str, files))
    assert r.exit_code == 0, r.output
    assert "embedded 4, reused 2 (near-verbatim copies)" in r.output


def test_a_changed_number_is_embedded(tmp_path: Path) -> None:
    """The duplicate check's veto holds: a copy whose figure changed is not near-verbatim."""
    d = docs()
    text = d[ORIGINAL]["text"]
    digits = next(w for w in text.split() if w.isdigit() and len(w) >= 2)
    changed = {**d[ORIGINAL], "id": "changed", "text": text.replace(digits, str(int(digits) + 7))}
    home = tmp_path / "home"
    nightly(home, night(tmp_path / "a.jsonl", "2021-01-01", [d[ORIGINAL]]))
    s = nightly(home, night(tmp_path / "b.jsonl", "2021-01-02", [changed]))
    assert (s["embedded"], s["reused"]) == (1, 0)


def test_an_original_later_in_fold_order_gives_no_vector(tmp_path: Path) -> None:
    """Only a story before the copy in (day, id) order is an original, whichever came first
    in the input: so the result depends on the stories, not on how runs batched them."""
    d = docs()
    s = nightly(
        tmp_path / "home",
        night(tmp_path / "a.jsonl", "2021-01-01", [{**d[COPY], "id": "a-copy"}, d[ORIGINAL]]),
    )
    # Same day: "a-copy" sorts before "farex-3666", so the copy is the original here.
    assert (s["embedded"], s["reused"]) == (1, 1)
    st = stored(tmp_path / "home")
    assert st["a-copy"]["sketched"] and not st[ORIGINAL]["sketched"]


def test_backfill_reuses_as_the_nights_do(nights, tmp_path: Path) -> None:
    home, files, _ = nights
    other = tmp_path / "home"
    r = khabar(other, "backfill", "--json", *map(str, files))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["reused"] == 2
    a, b = stored(home), stored(other)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k], k


def test_minhash_is_stable_across_processes() -> None:
    """Sketches are stored: a value must not depend on the process (Python's hash does)."""
    from khabar.stages.reuse import minhash

    shingles = ["خبرگزاری جمهوری اسلامی", "the same words", "۱۲ نفر کشته"]
    code = f"from khabar.stages.reuse import minhash; print(list(minhash({shingles!r})))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    assert json.loads(out) == list(minhash(shingles))
    # Each value is the smallest over the shingles, of two different hashes of each.
    each = np.array([minhash([x]) for x in shingles])
    assert list(minhash(shingles)) == each.min(axis=0).tolist()
    assert len({tuple(r) for r in each}) == 3 and (each[:, 0] != each[:, 1]).all()
    assert (each < 2**32).all()
