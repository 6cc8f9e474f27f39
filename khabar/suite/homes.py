"""The suite's homes: each set's stories ingested by one model, then clustered on copies.

A home is built once per (set, model, subset) with the real ingest job (khabar/pipeline.py),
its vectors coming from a cache shared by every home (khabar/suite/cache.py), and is never
changed: each decision configuration clusters a copy of it with the real clustering step
(khabar/clustering.py), exactly as `khabar nightly` does after its ingest.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cluster import calibration
from cluster.duplicates import Item
from embed import model as modellib
from embed.encoder import ENV_REFERENCE, Encoder
from khabar.clustering import Clustering
from khabar.pipeline import ingest
from khabar.prepare import prepare
from khabar.sources import Record, read_paths
from khabar.stages.reuse import NearVerbatim
from khabar.store import Store
from khabar.suite.cache import CachingEncoder, VectorCache
from khabar.suite.datasets import Task, rounds

RESULT_FIELDS = ("event_id", "duplicate_of", "duplicate_kind", "duplicate_score", "lang")


def model_name(spec: str) -> str:
    """The name a home records for a model spec (a built-in name, or a folder's name)."""
    return spec if spec in modellib.BUILTIN else Path(spec).name


class Homes:
    def __init__(self, workdir: Path, cache: VectorCache, log: Callable[[str], None] | None = None):
        self.workdir = workdir
        self.cache = cache
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self._built: dict[tuple, list[Path]] = {}
        self._encoders: dict[str, CachingEncoder] = {}
        self.references = workdir / "reference"
        self.references.mkdir(parents=True, exist_ok=True)
        os.environ[ENV_REFERENCE] = str(self.references)
        self.embedded = 0

    def encoder(self, spec: str) -> CachingEncoder:
        """The untuned model is the naive baseline's: at this machine's default precision
        (auto), whatever precision khabar's own models are asked to run at here, so a run at
        another precision is compared with the same baseline."""
        if spec not in self._encoders:
            m, info = modellib.runtime(spec, "auto" if spec == modellib.BASE_MODEL else None)
            self._encoders[spec] = CachingEncoder(Encoder(m, info), self.cache)
        return self._encoders[spec]

    def ensure_reference(self, spec: str, reference_docs: list[dict[str, Any]]) -> None:
        """A model with no shipped reference means (a fold adapter) gets them computed as
        scripts/reference_means.py computes the shipped ones (NTREX, by language)."""
        name = model_name(spec)
        from embed.encoder import REFERENCE_DIR

        if (REFERENCE_DIR / f"{name}.json").is_file() or (
            self.references / f"{name}.json"
        ).is_file():
            return
        stories = [prepare(_record(d), name) for d in reference_docs]
        vecs = self.encoder(spec).encode([s["_model_input"] for s in stories])
        by_lang: dict[str, list[np.ndarray]] = {}
        for s, v in zip(stories, vecs, strict=True):
            by_lang.setdefault(s["lang"], []).append(v)
        means = {k: np.mean(v, axis=0).round(6).tolist() for k, v in sorted(by_lang.items())}
        path = self.references / f"{name}.json"
        path.write_text(json.dumps({"model": name, "means": means}) + "\n", encoding="utf-8")

    def build(self, task: Task, spec: str, ids: set[str] | None = None) -> list[Path]:
        """Homes holding the task's stories (those in `ids` only, if given), ingested with
        the model `spec`: one for a docs task, one per round for a pairs task."""
        key = (task.name, spec, None if ids is None else frozenset(ids))
        if key in self._built:
            return self._built[key]
        slot = self.workdir / "homes" / f"{task.name}-{len(self._built):03d}"
        factory = self._factory(spec)
        name = model_name(spec)
        if task.mode == "pairs":
            groups = [[i for i in r if ids is None or i in ids] for r in rounds(task)]
            groups = [g for g in groups if g]
        else:
            groups = [[i for i in task.docs if ids is None or i in ids]]
        homes = []
        for n, members in enumerate(groups):
            home = slot / f"round{n}"
            store = Store(home)
            if task.files:
                wanted = set(members)
                paths = [str(f) for f in task.files if f.stem in wanted]
            else:
                src = slot / f"round{n}.jsonl"
                src.parent.mkdir(parents=True, exist_ok=True)
                src.write_text(
                    "".join(json.dumps(task.docs[i], ensure_ascii=False) + "\n" for i in members),
                    encoding="utf-8",
                )
                paths = [str(src)]
            reuse = NearVerbatim.of(calibration.build()[0])
            summary = ingest(store, paths, factory, name, reuse=reuse)
            store.close()
            if summary.rejected:
                raise RuntimeError(f"{task.name}: {summary.rejected} stories rejected")
            homes.append(home)
        self._built[key] = homes
        return homes

    def _factory(self, spec: str) -> Callable[[], CachingEncoder]:
        return lambda: self.encoder(spec)

    def items(self, home: Path) -> dict[str, Item]:
        """Every story of a home as the clustering sees it."""
        store = Store(home, create=False)
        try:
            detector, clusterer = calibration.build()
            return Clustering(store, detector, clusterer).items(list(store.iter_stories()))
        finally:
            store.close()

    def raw_vectors(self, home: Path) -> dict[str, np.ndarray]:
        """Story id -> the model's raw vector (no language correction): the naive baseline."""
        store = Store(home, create=False)
        try:
            return {s["id"]: store.vector(s["embed_key"]) for s in store.iter_stories()}
        finally:
            store.close()

    def cluster(self, home: Path, decisions: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
        """Cluster a copy of `home` with these decisions (None: the shipped ones), as the
        nightly job does; story id -> its exported fields."""
        run = home.with_name(home.name + "-run")
        shutil.rmtree(run, ignore_errors=True)
        shutil.copytree(home, run)
        try:
            store = Store(run)
            detector, clusterer = calibration.build(decisions)
            with store.transaction():
                Clustering(store, detector, clusterer).run([])
            out = {s["id"]: {k: s.get(k) for k in RESULT_FIELDS} for s in store.iter_stories()}
            store.close()
            return out
        finally:
            shutil.rmtree(run, ignore_errors=True)


def _record(doc: dict[str, Any]) -> Record:
    return Record(
        id=doc["id"],
        text=doc["text"],
        source="suite",
        title=doc.get("title") or None,
        lang=doc.get("lang"),
        published_at=doc.get("published_at"),
    )


def read_txt_docs(files: list[Path]) -> list[Record]:
    return [r for r in read_paths([str(f) for f in files]) if isinstance(r, Record)]
