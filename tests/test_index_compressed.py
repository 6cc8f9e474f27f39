"""The compressed index kind ("ivfpq"): IVF-PQ candidates re-scored exactly against the
full-precision rows in a mapped companion file. Real FAISS, ~20k clustered 384-d vectors."""

from __future__ import annotations

import numpy as np
import pytest

import embed.index as indexlib
from embed.index import INDEX_FILE, IndexError_, VectorIndex

DIM, N, K = 384, 20_000, 10


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """FAISS's OpenMP threads spin-wait; on a loaded 2-core machine (CI) PQ training with two
    threads took 8x as long as with one."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def clustered(n: int, seed: int) -> np.ndarray:
    """Unit vectors in 400 clusters whose members' cosines are ~0.8-0.95, like news."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((400, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spread = rng.uniform(0.23, 0.5, 400).astype(np.float32)
    c = rng.integers(0, 400, n)
    x = centres[c] + spread[c, None] * rng.standard_normal((n, DIM)).astype(np.float32) / 20
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = clustered(N, 1)
    rng = np.random.default_rng(2)
    ids = rng.permutation(np.arange(1, 3 * N, 3, dtype=np.int64))[:N]  # not sorted, not dense
    q = x[rng.integers(0, N, 50)] + 0.2 * rng.standard_normal((50, DIM)).astype(np.float32) / 20
    return ids, x, (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def pair(data) -> tuple[VectorIndex, VectorIndex]:
    ids, x, _ = data
    flat, pq = VectorIndex(DIM), VectorIndex(DIM)
    flat.fill(ids, x, kind="flat")
    pq.fill(ids, x.copy(), kind="ivfpq")
    return flat, pq


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(e)) / K for a, e in zip(approx, exact, strict=True)]))


def same_scores(a: tuple, b: tuple) -> None:
    """Every hit both return has the same cosine to 1e-5."""
    for sa, ia, sb, ib in zip(*a, *b, strict=True):
        theirs = dict(zip(ib.tolist(), sb.tolist(), strict=True))
        common = [
            (s, theirs[i]) for s, i in zip(sa.tolist(), ia.tolist(), strict=True) if i in theirs
        ]
        assert common
        assert [s for s, _ in common] == pytest.approx([t for _, t in common], abs=1e-5)


def test_kind_by_size() -> None:
    assert indexlib.kind_for(indexlib.FLAT_MAX) == "flat"
    assert indexlib.kind_for(indexlib.IVFPQ_MIN) == "ivf"
    assert indexlib.kind_for(indexlib.IVFPQ_MIN + 1) == "ivfpq"


def test_recall_and_exact_scores(pair, data) -> None:
    flat, pq = pair
    _, _, q = data
    assert pq.kind == "ivfpq" and len(pq) == N
    exact, got = flat.search(q, K), pq.search(q, K)
    assert got[1].shape == (len(q), K)
    assert recall(got[1], exact[1]) >= 0.95
    same_scores(got, exact)
    assert (np.diff(got[0], axis=1) <= 0).all()  # best first


def test_allowed_ids(pair, data) -> None:
    flat, pq = pair
    ids, _, q = data
    allowed = set(ids[::7].tolist())
    got = pq.search(q[:10], K, allowed=allowed)
    assert set(got[1][got[1] >= 0].tolist()) <= allowed
    exact = flat.search(q[:10], K, allowed=allowed)
    assert recall(got[1], exact[1]) >= 0.9
    same_scores(got, exact)


def test_range_search_is_exact_above_threshold(pair, data) -> None:
    flat, pq = pair
    _, _, q = data
    got, exact = pq.range_search(q[:5], 0.85), flat.range_search(q[:5], 0.85)
    for (s, i), (fs, fi) in zip(got, exact, strict=True):
        assert (s >= 0.85).all() and list(s) == sorted(s, reverse=True)
        assert set(i.tolist()) <= set(fi.tolist())
        assert len(i) >= 0.9 * len(fi)
        same_scores(([s], [i]), ([fs], [fi]))


def test_add_remove_save_load_round_trip(data, tmp_path) -> None:
    ids, x, q = data
    extra = clustered(2000, 3)
    pq = VectorIndex(DIM, {"*": [0.0] * DIM})
    pq.fill(ids, x, kind="ivfpq")
    pq.add(np.arange(10**8, 10**8 + 2000), extra)
    _, hit = pq.search(extra[:5], 1)
    assert hit[:, 0].tolist() == list(range(10**8, 10**8 + 5))
    gone = ids[:100]
    assert pq.remove(gone) == 100
    moved = ids[200]  # an update: removed, then added with a new vector
    pq.remove([moved])
    pq.add([moved], q[:1])
    _, hit = pq.search(q[0], 1)
    assert hit[0, 0] == moved
    pq.generation = 5
    pq.save(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[1] == INDEX_FILE and names[0].endswith(".rows")
    reader = VectorIndex.load(tmp_path)
    assert (reader.kind, reader.generation, len(reader)) == ("ivfpq", 5, N + 2000 - 100)
    before, after = pq.search(q, K), reader.search(q, K)
    assert (before[1] == after[1]).all()
    assert before[0] == pytest.approx(after[0], abs=1e-6)
    assert not set(gone.tolist()) & set(after[1].ravel().tolist())
    # a writer's next save replaces the companion and leaves no stale one
    writer = VectorIndex.load(tmp_path, writable=True)
    writer.add([10**9], q[1:2])
    writer.save(tmp_path)
    assert len(list(tmp_path.glob("index-*.rows"))) == 1
    assert VectorIndex.load(tmp_path).search(q[1], 1)[1][0, 0] == 10**9


def test_missing_or_corrupt_companion_says_reindex(data, tmp_path) -> None:
    ids, x, _ = data
    pq = VectorIndex(DIM)
    pq.fill(ids[:3000], x[:3000], kind="ivfpq")
    pq.save(tmp_path)
    (rows,) = tmp_path.glob("index-*.rows")
    blob = rows.read_bytes()
    rows.write_bytes(blob[:-100])  # truncated
    with pytest.raises(IndexError_, match="khabar reindex"):
        VectorIndex.load(tmp_path)
    rows.write_bytes(b"junk" + blob[4:])
    with pytest.raises(IndexError_, match="khabar reindex"):
        VectorIndex.load(tmp_path)
    rows.unlink()
    with pytest.raises(IndexError_, match="missing.*khabar reindex"):
        VectorIndex.load(tmp_path)
    # a companion from another save (a crash between the two writes) is refused too
    pq.save(tmp_path)
    (first,) = tmp_path.glob("index-*.rows")
    saved = (tmp_path / INDEX_FILE).read_bytes()
    pq.save(tmp_path)
    assert not first.exists()
    (second,) = tmp_path.glob("index-*.rows")
    second.rename(first)  # the older index, and under its name the newer companion
    (tmp_path / INDEX_FILE).write_bytes(saved)
    with pytest.raises(IndexError_, match="another save.*khabar reindex"):
        VectorIndex.load(tmp_path)


def test_nightly_job_switches_to_ivfpq_and_similar_works(tmp_path, monkeypatch) -> None:
    """Crossing IVFPQ_MIN rebuilds as "ivfpq" on the run that crosses it; the reader's
    `similar` then re-scores from the companion file, and says to reindex without it."""
    import json

    from conftest import SHARED_DATA, khabar

    monkeypatch.setattr(indexlib, "FLAT_MAX", 20)
    monkeypatch.setattr(indexlib, "IVFPQ_MIN", 40)
    src = tmp_path / "docs.jsonl"
    rows = (SHARED_DATA / "ntrex-dev" / "docs.jsonl").read_text(encoding="utf-8").splitlines()
    home = tmp_path / "home"
    src.write_text("\n".join(rows[:30]) + "\n", encoding="utf-8")
    assert khabar(home, "nightly", str(src)).exit_code == 0
    assert VectorIndex.load(home).kind == "ivf"
    src.write_text("\n".join(rows[30:90]) + "\n", encoding="utf-8")
    result = khabar(home, "nightly", str(src))
    assert result.exit_code == 0, result.output
    assert "index rebuilt (ivfpq)" in result.stderr
    first = json.loads(rows[0])["id"]
    hits = json.loads(khabar(home, "similar", "--id", first, "--json").stdout)["results"]
    assert len(hits) == 10
    (rows_file,) = home.glob("index-*.rows")
    rows_file.unlink()
    result = khabar(home, "similar", "--id", first, "--json")
    assert result.exit_code != 0 and "khabar reindex" in result.stderr


def test_a_streamed_rebuild_is_the_in_memory_one(tmp_path, monkeypatch) -> None:
    """At archive scale `khabar.vectors.rebuild` streams the database in chunks into a
    mapped scratch file; the index it builds answers exactly as one built from all the
    vectors in memory, and the scratch file is not left behind."""
    from conftest import SHARED_DATA, khabar

    from khabar import vectors
    from khabar.store import Store

    monkeypatch.setattr(indexlib, "FLAT_MAX", 20)
    monkeypatch.setattr(indexlib, "IVFPQ_MIN", 40)
    monkeypatch.setattr(vectors, "STREAM_CHUNK", 7)  # many chunks, one a partial one
    src = tmp_path / "docs.jsonl"
    rows = (SHARED_DATA / "ntrex-dev" / "docs.jsonl").read_text(encoding="utf-8").splitlines()
    src.write_text("\n".join(rows[:90]) + "\n", encoding="utf-8")
    home = tmp_path / "home"
    assert khabar(home, "ingest", str(src)).exit_code == 0
    store = Store(home, create=False)
    dim = int(store.get_meta("dimension"))
    stats = vectors.load_stats(store, dim)
    streamed = vectors.rebuild(store, stats, dim)
    assert streamed.kind == "ivfpq" and len(streamed) == 90
    whole = VectorIndex(dim, vectors.snapshot(stats))
    vids, langs, raw = store.story_vectors()
    whole.fill(vids, whole.correct(langs, raw), kind="ivfpq")
    queries = whole.correct(langs[:12], raw[:12])
    a, b = streamed.search(queries, 10), whole.search(queries, 10)
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0])
    assert not list(home.glob("*.tmp"))
    store.close()
