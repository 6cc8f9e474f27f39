"""Cross-language retrieval on the NTREX dev set: the language correction must do its job.

168 documents: 56 news stories, each in English, Persian and Arabic. For every Persian and
Arabic document, the nearest other document should be a version of the same story.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SHARED_DATA

from khabar.pipeline import ingest
from khabar.search import Searcher
from khabar.store import Store

DOCS = SHARED_DATA / "ntrex-dev" / "docs.jsonl"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"shared data folder {SHARED_DATA} absent"),
]


@pytest.fixture(scope="module")
def ntrex(tmp_path_factory, encoder):
    docs = [json.loads(line) for line in DOCS.read_text(encoding="utf-8").splitlines() if line]
    store = Store(tmp_path_factory.mktemp("ntrex") / "home")
    rejected = []
    name = encoder.info.name
    summary = ingest(store, [str(DOCS)], lambda: encoder, name, on_rejection=rejected.append)
    assert rejected == []
    assert summary.new == len(docs) == 168
    yield store, docs
    store.close()


def test_ntrex_top1_same_event(ntrex, encoder) -> None:
    store, docs = ntrex
    event = {d["id"]: d["event_id"] for d in docs}
    targets = [d["id"] for d in docs if d["lang"] in ("fa", "ar")]
    assert len(targets) == 112

    searcher = Searcher(store, lambda: encoder)
    corrected = 0
    for story_id in targets:
        (hit,) = searcher.by_id(story_id, k=1)
        assert hit.story["id"] != story_id
        corrected += event[hit.story["id"]] == event[story_id]
    corrected_rate = corrected / len(targets)

    # The same question with raw cosine on the stored (uncorrected) vectors.
    vids, langs, raw = store.story_vectors()
    ids = [store.by_vids([int(v)])[int(v)]["id"] for v in vids]
    sims = raw @ raw.T
    np.fill_diagonal(sims, -np.inf)
    position = {story_id: i for i, story_id in enumerate(ids)}
    raw_hits = sum(event[ids[int(np.argmax(sims[position[s]]))]] == event[s] for s in targets)
    raw_rate = raw_hits / len(targets)

    assert corrected_rate >= 0.90, (corrected_rate, raw_rate)
    assert raw_rate < corrected_rate, (corrected_rate, raw_rate)
