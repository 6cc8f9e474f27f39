"""VectorIndex and Store on their own: synthetic vectors, real FAISS, real SQLite."""

from __future__ import annotations

import numpy as np
import pytest

from embed.index import INDEX_FILE, IndexError_, VectorIndex
from khabar.store import DB_FILE, Store, StoreError

DIM = 8
IDS = [10, 20, 30, 40, 50]


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def vectors() -> np.ndarray:
    return unit(np.random.default_rng(7).normal(size=(len(IDS), DIM)))


@pytest.fixture
def index(vectors: np.ndarray) -> VectorIndex:
    idx = VectorIndex(DIM, {"fa": [0.1] * DIM, "*": [0.0] * DIM})
    idx.add(IDS, vectors)
    return idx


def test_search_finds_each_vector_first(index: VectorIndex, vectors: np.ndarray) -> None:
    assert len(index) == len(IDS)
    scores, ids = index.search(vectors, k=2)
    assert ids.shape == (len(IDS), 2)
    assert ids[:, 0].tolist() == IDS
    assert scores[:, 0] == pytest.approx(np.ones(len(IDS)), abs=1e-5)
    assert (scores[:, 1] < scores[:, 0]).all()


def test_search_k_larger_than_index_and_allowed(index: VectorIndex, vectors: np.ndarray) -> None:
    scores, ids = index.search(vectors[0], k=100)
    assert sorted(ids[0].tolist()) == sorted(IDS)
    assert list(scores[0]) == sorted(scores[0], reverse=True)
    _, ids = index.search(vectors[0], k=5, allowed=[30, 50])
    found = [i for i in ids[0].tolist() if i >= 0]
    assert sorted(found) == [30, 50]


def test_range_search(index: VectorIndex, vectors: np.ndarray) -> None:
    (scores, ids), (scores2, ids2) = index.range_search(vectors[[1, 3]], threshold=0.999)
    assert ids.tolist() == [20] and ids2.tolist() == [40]
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    ((all_scores, all_ids),) = index.range_search(vectors[1], threshold=-1.0)
    assert sorted(all_ids.tolist()) == IDS
    assert len(all_scores) == len(IDS)


def test_remove(index: VectorIndex, vectors: np.ndarray) -> None:
    assert index.remove([20, 999]) == 1
    assert index.remove([]) == 0
    assert len(index) == len(IDS) - 1
    _, ids = index.search(vectors[1], k=len(IDS))
    assert 20 not in ids[0].tolist()


def test_correct_subtracts_the_language_mean(index: VectorIndex, vectors: np.ndarray) -> None:
    out = index.correct(["fa", "xx"], vectors[:2])
    expected_fa = vectors[0] - 0.1
    expected_fa /= np.linalg.norm(expected_fa)
    assert out[0] == pytest.approx(expected_fa, abs=1e-6)
    assert out[1] == pytest.approx(vectors[1], abs=1e-6)  # unknown language: the "*" mean
    assert index.correct([], np.zeros((0, DIM))).shape == (0, DIM)


def test_save_load_round_trip(index: VectorIndex, vectors: np.ndarray, tmp_path) -> None:
    index.generation = 7
    index.remove([30])
    index.save(tmp_path)
    assert (tmp_path / INDEX_FILE).is_file()
    assert [p.name for p in tmp_path.iterdir()] == [INDEX_FILE]  # no temp file left
    loaded = VectorIndex.load(tmp_path)
    assert len(loaded) == len(IDS) - 1
    assert loaded.dimension == DIM
    assert loaded.generation == 7
    assert set(loaded.means) == {"fa", "*"}
    assert loaded.means["fa"] == pytest.approx(np.full(DIM, 0.1), abs=1e-6)
    before = index.search(vectors, k=3)
    after = loaded.search(vectors, k=3)
    assert after[1].tolist() == before[1].tolist()
    assert after[0] == pytest.approx(before[0], abs=1e-6)
    # The loaded index is usable for writes too.
    loaded.add([60], vectors[2:3])
    assert loaded.search(vectors[2], k=1)[1][0, 0] in (30, 60)


def test_garbage_index_file_says_reindex(tmp_path) -> None:
    (tmp_path / INDEX_FILE).write_bytes(b"\x00garbage, not an index\xff" * 50)
    with pytest.raises(IndexError_, match="khabar reindex"):
        VectorIndex.load(tmp_path)


def test_truncated_index_file_says_reindex(index: VectorIndex, tmp_path) -> None:
    index.save(tmp_path)
    path = tmp_path / INDEX_FILE
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(IndexError_, match="khabar reindex"):
        VectorIndex.load(tmp_path)


def test_missing_index_file_says_reindex(tmp_path) -> None:
    with pytest.raises(IndexError_, match="khabar reindex"):
        VectorIndex.load(tmp_path)


def test_store_on_a_file_that_is_not_sqlite(tmp_path) -> None:
    (tmp_path / DB_FILE).write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(StoreError) as info:
        Store(tmp_path)
    message = str(info.value)
    assert str(tmp_path / DB_FILE) in message
    assert "move it aside" in message and "re-ingest" in message


def test_store_without_a_database_and_no_create(tmp_path) -> None:
    home = tmp_path / "nowhere"
    with pytest.raises(StoreError, match="khabar ingest"):
        Store(home, create=False)
    assert not home.exists()


def test_store_vectors_and_meta_round_trip(tmp_path, vectors: np.ndarray) -> None:
    store = Store(tmp_path)
    try:
        store.check_model("e5-small", DIM)
        store.put_vector("k1", vectors[0])
        store.put_vector("k1", vectors[1])  # the first vector under a key stays
        assert store.vector("k1") == pytest.approx(vectors[0])
        assert store.vector("nope") is None
        assert store.has_vectors(["k1", "k2"]) == {"k1"}
        with pytest.raises(StoreError, match="e5-small"):
            store.check_model("labse", 768)
    finally:
        store.close()
    reopened = Store(tmp_path, create=False)
    try:
        assert reopened.get_meta("model") == "e5-small"
        assert reopened.vector("k1") == pytest.approx(vectors[0])
    finally:
        reopened.close()


def test_update_many_writes_each_row_in_order(tmp_path) -> None:
    """Runs of rows that set the same columns go in one statement; across runs, and for a
    story set twice, the later row wins, as one `update` after another would."""
    store = Store(tmp_path)
    try:
        for vid, sid in enumerate(["a", "b", "c"], 1):
            store.insert({
                "id": sid, "vid": vid, "lang": "fa", "title": sid, "text": sid,
                "raw_text": sid, "content_hash": sid, "input_hash": sid, "embed_key": sid,
                "ingested_at": "2026-01-01", "updated_at": "2026-01-01",
            })  # fmt: skip
        store.update_many([
            ("a", {"event_id": "e1", "event_score": 0.9}),
            ("b", {"event_id": "e1", "event_score": 0.8}),
            ("c", {"duplicate_of": "a", "duplicate_kind": "near"}),
            ("a", {"event_id": "e2", "event_score": 0.7}),
            ("b", {"metadata": {"k": "v"}}),
        ])  # fmt: skip
        got = {s: store.get(s) for s in "abc"}
        assert (got["a"]["event_id"], got["a"]["event_score"]) == ("e2", 0.7)
        assert (got["b"]["event_id"], got["b"]["event_score"]) == ("e1", 0.8)
        assert got["b"]["metadata"] == {"k": "v"}
        assert (got["c"]["duplicate_of"], got["c"]["duplicate_kind"]) == ("a", "near")
        assert got["c"]["event_id"] is None
    finally:
        store.close()


# --- index kind by size ---------------------------------------------------------------------


def _clustered(n: int, d: int = 32, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, d))
    x = centres[rng.integers(0, 40, n)] + 0.5 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_large_index_is_ivf_and_finds_what_flat_finds(tmp_path, monkeypatch) -> None:
    import embed.index as indexlib

    x = _clustered(6000)
    ids = np.arange(len(x), dtype=np.int64) * 2 + 1
    flat, ivf = VectorIndex(32), VectorIndex(32)
    flat.fill(ids, x)
    monkeypatch.setattr(indexlib, "FLAT_MAX", 5000)
    ivf.fill(ids, x)
    assert (flat.kind, ivf.kind) == ("flat", "ivf")
    assert indexlib.kind_for(5000) == "flat" and indexlib.kind_for(5001) == "ivf"
    queries = x[:50] + 0.05
    _, exact = flat.search(queries, 10)
    _, approx = ivf.search(queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall >= 0.95, recall
    # Saved, then mapped by a reader and read whole by a writer: same answers.
    ivf.generation = 7
    ivf.save(tmp_path)
    reader = VectorIndex.load(tmp_path)
    writer = VectorIndex.load(tmp_path, writable=True)
    assert (reader.kind, reader.generation, len(reader)) == ("ivf", 7, len(x))
    assert np.array_equal(reader.search(queries, 10)[1], approx)
    assert writer.remove([int(ids[0])]) == 1 and len(writer) == len(x) - 1
    assert int(ids[0]) not in set(writer.search(x[:1], 5)[1][0])
    # Range search and a time window (allowed ids) work on the IVF too.
    [(scores, found)] = reader.range_search(x[:1], 0.999)
    assert int(ids[0]) in set(found)
    _, inside = reader.search(x[:1], 3, allowed=[int(ids[0]), int(ids[1])])
    assert set(inside[0]) - {-1} <= {int(ids[0]), int(ids[1])}


def test_outgrown_index_is_rebuilt_as_ivf_by_the_nightly_job(tmp_path, monkeypatch) -> None:
    """Crossing FLAT_MAX switches the kind on the run that crosses it, and queries still work."""
    import json

    from conftest import SHARED_DATA, khabar

    import embed.index as indexlib

    monkeypatch.setattr(indexlib, "FLAT_MAX", 40)
    src = tmp_path / "docs.jsonl"
    rows = (SHARED_DATA / "ntrex-dev" / "docs.jsonl").read_text(encoding="utf-8").splitlines()
    home = tmp_path / "home"
    src.write_text("\n".join(rows[:30]) + "\n", encoding="utf-8")
    assert khabar(home, "nightly", str(src)).exit_code == 0
    assert VectorIndex.load(home).kind == "flat"
    src.write_text("\n".join(rows[30:90]) + "\n", encoding="utf-8")
    result = khabar(home, "nightly", str(src))
    assert result.exit_code == 0, result.output
    assert "index rebuilt (ivf)" in result.stderr
    assert VectorIndex.load(home).kind == "ivf"
    first = json.loads(rows[0])["id"]
    hits = json.loads(khabar(home, "similar", "--id", first, "--json").stdout)["results"]
    assert len(hits) == 10
