"""The backfill driver: stages (a)-(c) on an executor, stage (d) here, day by day.

  (a) read: each input file to a JSON-lines shard of prepared stories (parallel per file);
  (b) embed: the model inputs whose key has no vector in the home or in a finished batch,
      in batches of BATCH (parallel; vectors saved per batch);
  then the stories and vectors are stored, in file order, exactly as `khabar ingest` would
      store them (one transaction; the FAISS index rebuilt and saved after it);
  (c) candidates: per day, each unfolded story's earlier stories in its window (parallel);
  (d) fold: duplicates and events, one day at a time in publication order, each day
      committed (sequential).

Each finished piece is a file in <home>/backfill/<digest>/ (khabar/backfill/work.py); run
again after a kill, a backfill skips what is finished and the home ends exactly as a clean
run leaves it. The folder is removed when the backfill completes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cluster.duplicates import DuplicateDetector
from cluster.events import EventClusterer
from khabar.backfill.executors import Executor
from khabar.backfill.work import Work, files
from khabar.clustering import NEIGHBOURS, Clustering
from khabar.days import day_number, iso_day, story_day
from khabar.pipeline import _crash_point, ingest_prepared
from khabar.sources import Rejection
from khabar.stages.candidates import pool_arrays, rank_candidates
from khabar.stages.embed import missing
from khabar.stages.read import Prepared, read_shard, shard_text
from khabar.stages.reuse import NearVerbatim
from khabar.store import Store, now

BATCH = 256  # texts per embedding batch and per vectors artefact, at most
WAVE = 20_000  # texts sent to the executor at once (bounds the driver's memory)

Progress = Callable[[str, int, str], Callable[[int], None]]  # (stage, total, unit) -> tick


@dataclass
class BackfillSummary:
    executor: str = "local"
    workers: int = 1
    files: int = 0
    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    embedded: int = 0  # texts this run embedded
    reused: int = 0  # texts that took a near-verbatim original's vector (stages/reuse.py)
    resumed: dict[str, int] = field(default_factory=dict)  # pieces a killed run had finished
    days: int = 0
    index: str = ""
    clustering: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Backfill:
    def __init__(
        self,
        store: Store,
        executor: Executor,
        model_name: str,
        model: tuple[str, int],
        detector: DuplicateDetector,
        clusterer: EventClusterer,
        progress: Progress | None = None,
        on_rejection: Callable[[Rejection], None] | None = None,
    ):
        self.store = store
        self.executor = executor
        self.model_name = model_name
        self.model = model
        self.clustering = Clustering(store, detector, clusterer)
        self.progress = progress
        self.on_rejection = on_rejection
        self.summary = BackfillSummary(executor=executor.name, workers=executor.workers)

    def tick(self, stage: str, total: int, unit: str) -> Callable[[int], None]:
        if self.progress is None or total == 0:
            return lambda n: None
        return self.progress(stage, total, unit)

    def run(self, paths: tuple[str, ...] | list[str]) -> BackfillSummary:
        started = now()
        inputs = files(paths)
        work = Work(self.store.home, inputs, self.model_name)
        self.summary.files = len(inputs)
        for stage, step in (
            ("read", lambda: self.read(work)),
            ("embed", lambda: self.embed(work)),
            ("store", lambda: self.ingest(work)),
            ("candidates", lambda: self.candidates(work)),
            ("fold", lambda: self.fold(work, started)),
        ):
            t0 = time.perf_counter()
            step()
            self.summary.seconds[stage] = round(time.perf_counter() - t0, 3)
        work.remove()
        return self.summary

    # (a) -----------------------------------------------------------------------------------

    def read(self, work: Work) -> None:
        todo = [i for i in range(len(work.inputs)) if not work.shard(i).exists()]
        self.summary.resumed["read"] = len(work.inputs) - len(todo)
        tick = self.tick("read", len(todo), "file")
        args = [(str(work.inputs[i].resolve()), self.model_name, str(work.inputs[i])) for i in todo]
        for n, text in self.executor.map(shard_text, args):
            work.write_text(work.shard(todo[n]), text)
            tick(1)

    def shards(self, work: Work) -> Iterator[Prepared]:
        for shard in self.each_shard(work):
            yield from shard

    # (b) -----------------------------------------------------------------------------------

    def embed(self, work: Work) -> None:
        """In waves of WAVE texts, so an archive's texts are never all in memory."""
        done: set[str] = set()
        finished = work.embedded()
        for npy in finished:
            done.update(work.read_vectors(npy)[0])
        self.summary.resumed["embed"] = len(finished)
        written = len(finished)
        tick = self.tick("embed", self.stories_in(work), "story")
        wave: dict[str, str] = {}
        for shard in self.each_shard(work):
            stories = [s for s in shard if not isinstance(s, Rejection)]
            known = self.store.has_vectors({s["embed_key"] for s in stories}) | done
            added = 0
            for key, text in missing(stories, known).items():
                if key not in wave:
                    wave[key] = text
                    added += 1
            tick(len(stories) - added)  # known already: nothing to embed
            if len(wave) >= WAVE:
                written = self.embed_wave(work, wave, written, tick)
                done.update(wave)
                wave = {}
        if wave:
            self.embed_wave(work, wave, written, tick)

    def stories_in(self, work: Work) -> int:
        """Lines in the shards (the embed bar's total: known texts tick at once)."""
        total = 0
        for i in range(len(work.inputs)):
            with work.shard(i).open(encoding="utf-8") as fh:
                total += sum(1 for _ in fh)
        return total

    def each_shard(self, work: Work) -> Iterator[list[Prepared]]:
        for i in range(len(work.inputs)):
            yield list(read_shard(work.shard(i)))

    def embed_wave(
        self, work: Work, wave: dict[str, str], written: int, tick: Callable[[int], None]
    ) -> int:
        need = list(wave.items())
        # Enough batches for every worker (a vector does not depend on its batch).
        size = min(BATCH, max(16, -(-len(need) // (4 * self.executor.workers))))
        batches = [
            ([k for k, _ in need[i : i + size]], [t for _, t in need[i : i + size]])
            for i in range(0, len(need), size)
        ]
        for keys, vectors in self.executor.embed(batches):
            work.write_vectors(f"{written:06d}", keys, vectors)
            written += 1
            self.summary.embedded += len(keys)
            tick(len(keys))
            _crash_point("backfill-embed")
        return written

    # store -----------------------------------------------------------------------------------

    def ingest(self, work: Work) -> None:
        where: dict[str, tuple[Path, int]] = {}
        for npy in work.embedded():
            for row, key in enumerate(work.read_vectors(npy)[0]):
                where.setdefault(key, (npy, row))

        opened: dict[Path, np.ndarray] = {}

        def lookup(keys: list[str]) -> np.ndarray:
            out = []
            for key in keys:
                npy, row = where[key]
                if npy not in opened:
                    opened[npy] = np.load(npy, mmap_mode="r", allow_pickle=False)
                out.append(np.array(opened[npy][row]))
            return np.stack(out)

        s = ingest_prepared(
            self.store,
            self.shards(work),
            self.model_name,
            lookup,
            self.model,
            on_rejection=self.on_rejection,
            command="backfill",
            reuse=NearVerbatim.of(self.clustering.detector),
        )
        for k in ("read", "new", "updated", "unchanged", "rejected", "reused"):
            setattr(self.summary, k, getattr(s, k))
        self.summary.index = s.index

    # (c) -----------------------------------------------------------------------------------

    def days(self) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        for s in self.store.unclustered():
            out.setdefault(day_number(s), []).append(s)
        return out

    def candidates(self, work: Work) -> None:
        """Each unfolded day's candidates, from the stories within reach of it: those
        already in an event may be compared with any of its stories, the others only with
        the stories after them in fold order."""
        days = self.days()
        self.summary.days = len(days)
        todo = [d for d in sorted(days) if not work.candidates(d).exists()]
        self.summary.resumed["candidates"] = len(days) - len(todo)
        reach = self.clustering.reach
        tick = self.tick("candidates", len(todo), "day")
        step = 4 * self.executor.workers  # days prepared and sent at once (bounds memory)
        for w in range(0, len(todo), step):
            wave = todo[w : w + step]
            args = [self.day_arrays(d, days[d], reach) for d in wave]
            for n, found in self.executor.map(rank_candidates, args):
                work.write_json(work.candidates(wave[n]), found)
                tick(1)

    def day_arrays(self, day: int, stories: list[dict[str, Any]], reach: float) -> tuple:
        """What stage (c) needs of one day, as plain arrays in fold order."""
        pool = self.store.between(iso_day(day - reach), iso_day(day + 1 + reach))
        vectors = self.clustering.corrected(pool)  # no evidence: stage (c) needs none
        return pool_arrays(
            [(s["id"], story_day(s), vectors[s["id"]]) for s in pool if s["id"] in vectors],
            {s["id"] for s in pool if s["event_id"]},
            [s["id"] for s in stories],
            self.clustering.detector.max_days,
            NEIGHBOURS,
        )

    # (d) -----------------------------------------------------------------------------------

    def fold(self, work: Work, started: str) -> None:
        import json

        days = self.days()
        tick = self.tick("fold", sum(len(v) for v in days.values()), "story")

        def given(day: int) -> dict[str, list[str]]:
            return json.loads(work.candidates(day).read_text(encoding="utf-8"))

        def after_day(day: int, part) -> None:
            self.store.checkpoint()
            tick(part.stories)
            _crash_point("backfill-fold")

        with self.store.transaction():
            result = self.clustering.run([], candidates=given, after_day=after_day)
            self.summary.clustering = result.as_dict()
            self.store.record_run("backfill", started, self.summary.as_dict())
