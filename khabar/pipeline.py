"""The ingest job: read, validate, clean, store, embed what is new, index, commit.

A run commits whole or not at all (one database transaction; the index file is replaced
after the commit and carries the generation it belongs to). Running it again on the same
input changes nothing: unchanged rows are recognised by their input hash, and a text this
model has embedded before is never embedded again.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embed.encoder import Encoder
from embed.index import IndexError_, VectorIndex
from khabar import langdays, vectors
from khabar.days import day_number
from khabar.sources import Rejection
from khabar.stages.embed import missing
from khabar.stages.read import Prepared, prepared
from khabar.stages.reuse import NearVerbatim, Sketch, Sketches, sketch
from khabar.store import Store, now

CHUNK = 256  # records prepared and embedded together; bounds memory on large inputs
CRASH_ENV = "KHABAR_CRASH_AT"


def _crash_point(name: str) -> None:
    """Test hook (tests/test_crash.py): when $KHABAR_CRASH_AT equals `name`, the process kills
    itself with SIGKILL on the spot, with no rollback and no cleanup, as a power cut or the OOM
    killer would. The points: "after-read" (the whole input read, its last chunk not yet
    written: with fewer than CHUNK stories, nothing written at all), "mid-write"
    (the first chunk of stories and vectors written, not committed), "before-commit" (clustering
    done, the run recorded, not committed), "after-commit" (committed, the index not yet saved).
    Without the variable it does nothing."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Summary:
    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    embedded: int = 0  # model calls actually made (new distinct texts)
    reused: int = 0  # texts that took a near-verbatim original's vector (stages/reuse.py)
    index: str = ""
    clustering: dict[str, Any] | None = None
    # Wall seconds: loading the model, embedding (tokens and forward passes), the index, the
    # clustering step, and the rest (reading, cleaning, reuse checks, SQLite), of `total`.
    seconds: dict[str, float] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "rejections"}
        d["rejections"] = [{"source": r.source, "reason": r.reason} for r in self.rejections]
        return d


EncoderFactory = Callable[[], Encoder]
ProgressFactory = Callable[[int], Callable[[int], None]]


def ingest(
    store: Store,
    paths: Iterable[str],
    encoder_factory: EncoderFactory,
    model_name: str,
    on_rejection: Callable[[Rejection], None] | None = None,
    progress: ProgressFactory | None = None,
    after: Callable[[VectorIndex, list[str]], dict[str, Any]] | None = None,
    command: str = "ingest",
    reuse: NearVerbatim | None = None,
) -> Summary:
    """Bring the files into the home. The encoder is created only if something needs it.

    `after(index, changed_ids)` runs inside the same transaction once the index is up to date
    (the nightly job clusters there; `changed_ids` are known stories whose text changed), so
    the whole run commits or nothing does.
    """
    job = _Ingest(store, encoder_factory, model_name, on_rejection, progress)
    job.after, job.command, job.reuse = after, command, reuse
    return job.run(prepared(paths, model_name))


def ingest_prepared(
    store: Store,
    stream: Iterable[Prepared],
    model_name: str,
    lookup: Callable[[list[str]], np.ndarray],
    model: tuple[str, int],
    on_rejection: Callable[[Rejection], None] | None = None,
    command: str = "ingest",
    reuse: NearVerbatim | None = None,
) -> Summary:
    """As `ingest`, from stage (a)'s prepared stories, with the vectors stage (b) made
    (`lookup(keys)`; `model`: the (name, dimension) they belong to): a backfill's ingest,
    which never loads the model."""

    def no_encoder() -> Encoder:
        raise RuntimeError("a backfill's vectors must all be embedded before its ingest")

    job = _Ingest(store, no_encoder, model_name, on_rejection, None)
    job.command, job.lookup, job.model, job.reuse = command, lookup, model, reuse
    return job.run(stream)


class _Ingest:
    """One run's state: the summary, the lazily created encoder, the vids it wrote."""

    def __init__(
        self,
        store: Store,
        encoder_factory: EncoderFactory,
        model_name: str,
        on_rejection: Callable[[Rejection], None] | None,
        progress: ProgressFactory | None,
    ):
        self.store = store
        self.encoder_factory = encoder_factory
        self.encoder: Encoder | None = None
        self.model_name = model_name
        self.on_rejection = on_rejection
        self.progress = progress
        self.summary = Summary()
        self.written: list[int] = []  # vids whose vector or language changed
        self.changed: list[str] = []  # ids of known stories whose text changed
        self.index: VectorIndex | None = None  # as it was before this run, if sound
        self.index_note = ""
        self.after: Callable[[VectorIndex, list[str]], dict[str, Any]] | None = None
        self.command = "ingest"
        self.lookup: Callable[[list[str]], np.ndarray] | None = None  # vectors made ahead
        self.model: tuple[str, int] | None = None  # their model's (name, dimension)
        self.reuse: NearVerbatim | None = None  # None: every new text is embedded
        self.sketches = Sketches()  # stored candidates' sketches, read once a run

    def reject(self, r: Rejection) -> None:
        self.summary.rejected += 1
        self.summary.rejections.append(r)
        if self.on_rejection:
            self.on_rejection(r)

    def run(self, stream: Iterable[Prepared]) -> Summary:
        started = now()
        t0 = time.perf_counter()
        spent = self.summary.seconds
        spent.update(model_load=0.0, embed=0.0, index=0.0, cluster=0.0)
        seen: dict[str, tuple[str, str]] = {}  # id -> (input hash, source) within this run
        pending: list[dict[str, Any]] = []
        with self.store.transaction():
            try:
                self.index = vectors.load(self.store, self.store.home, writable=True)
            except IndexError_ as exc:
                if self.store.count():
                    self.index_note = f" (the old index was unusable: {exc})"
            for story in stream:
                self.summary.read += 1
                if isinstance(story, Rejection):
                    self.reject(story)
                    continue
                earlier = seen.get(story["id"])
                if earlier is not None:
                    if earlier[0] != story["input_hash"]:
                        msg = (
                            f"story {story['id']!r} already came with a different text at "
                            f"{earlier[1]}; kept that one"
                        )
                        self.reject(Rejection(story["source"], msg))
                    else:
                        self.summary.unchanged += 1
                    continue
                seen[story["id"]] = (story["input_hash"], story["source"])
                pending.append(story)
                if len(pending) >= CHUNK:
                    self.write(pending)
                    pending = []
            _crash_point("after-read")
            if pending:
                self.write(pending)
            # Once a run, not once a chunk: the sweep reads the whole vectors table, and a
            # text whose old version comes again later in the run keeps its vector.
            self.store.drop_unused_vectors()
            t = time.perf_counter()
            index, changed = self.update_index()
            spent["index"] = time.perf_counter() - t
            if self.after is not None and index is not None:
                t = time.perf_counter()
                self.summary.clustering = self.after(index, self.changed)
                spent["cluster"] = time.perf_counter() - t
            spent["total"] = time.perf_counter() - t0
            spent["other"] = spent["total"] - sum(
                spent[k] for k in ("model_load", "embed", "index", "cluster")
            )
            self.summary.seconds = {k: round(v, 3) for k, v in spent.items()}
            self.store.record_run(self.command, started, self.summary.as_dict())
            _crash_point("before-commit")
        _crash_point("after-commit")
        if changed:
            index.save(self.store.home)
        return self.summary

    def write(self, stories: list[dict[str, Any]]) -> None:
        """Classify, embed what no vector exists for, and store one chunk of stories."""
        store, summary = self.store, self.summary
        todo: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for story in stories:
            old = store.get(story["id"])
            if old is not None and old["input_hash"] == story["input_hash"]:
                summary.unchanged += 1
            else:
                todo.append((story, old))
        if not todo:
            return

        stamp = now()
        known = store.has_vectors(s["embed_key"] for s, _ in todo)
        need = missing((s for s, _ in todo), known)
        sketches, taken = self.originals(todo, need, stamp)
        for key in taken:
            del need[key]
        if need and self.lookup is not None and self.model is not None:
            store.check_model(*self.model)
            keys = list(need)
            for key, vec in zip(keys, self.lookup(keys), strict=True):
                store.put_vector(key, vec)
        elif need:
            if self.encoder is None:
                t = time.perf_counter()
                self.encoder = self.encoder_factory()
                summary.seconds["model_load"] += time.perf_counter() - t
                store.check_model(self.encoder.info.name, self.encoder.dimension)
            keys = list(need)
            tick = self.progress(len(keys)) if self.progress else None
            t = time.perf_counter()
            vecs = self.encoder.encode([need[k] for k in keys], progress=tick)
            summary.seconds["embed"] += time.perf_counter() - t
            for key, vec in zip(keys, vecs, strict=True):
                store.put_vector(key, vec)
            summary.embedded += len(keys)
        for key, original in taken.items():
            store.put_vector(key, store.vector(original))
        summary.reused += len(taken)

        stats = vectors.load_stats(store, self.dimension())
        by_day: langdays.Changes = {}
        next_vid = store.next_vid()
        for s, old in todo:
            fields = {k: v for k, v in s.items() if not k.startswith("_")}
            vec_changed = old is None or (old["embed_key"], old["lang"]) != (
                s["embed_key"],
                s["lang"],
            )
            day_old = None if old is None else (old["lang"], day_number(old), old["embed_key"])
            stamped = {**fields, "ingested_at": stamp if old is None else old["ingested_at"]}
            day_new = (s["lang"], day_number(stamped), s["embed_key"])
            if day_old != day_new:
                for key, sign in ((day_old, -1), (day_new, 1)):
                    vec = None if key is None else store.vector(key[2])
                    if vec is not None:
                        by_day = langdays.merge(
                            by_day, langdays.changes([key[0]], [key[1]], vec[None, :], sign)
                        )
            if old is None:
                fields.update(vid=next_vid, ingested_at=stamp, updated_at=stamp)
                vid = next_vid
                next_vid += 1
                store.insert(fields)
                summary.new += 1
            else:
                vid = old["vid"]
                if vec_changed:
                    old_vec = store.vector(old["embed_key"])
                    if old_vec is not None:
                        stats.add([old["lang"]], old_vec[None, :], sign=-1)
                if (old["content_hash"], old["embed_key"]) != (s["content_hash"], s["embed_key"]):
                    self.changed.append(s["id"])
                fields.pop("id")
                fields["updated_at"] = stamp
                store.update(s["id"], fields)
                summary.updated += 1
            if vec_changed:
                stats.add([s["lang"]], store.vector(s["embed_key"])[None, :])
                self.written.append(vid)
            if self.reuse is not None:
                own = sketches.get(s["embed_key"])
                store.put_sketch(vid, own.minhash if own is not None else None)
        store.save_lang_stats(stats.sums, stats.counts)
        store.add_lang_days(by_day)
        _crash_point("mid-write")

    def originals(
        self,
        todo: list[tuple[dict[str, Any], dict[str, Any] | None]],
        need: dict[str, str],
        stamp: str,
    ) -> tuple[dict[str, Sketch], dict[str, str]]:
        """({embed key: sketch} of the keys embedded by the model, {embed key: original's
        embed key} of the texts that take an original's vector: khabar/stages/reuse.py).
        Originals are stored stories embedded by the model, and this chunk's, in the order
        they came."""
        rule = self.reuse
        if rule is None:
            return {}, {}
        store = self.store
        own: dict[str, Sketch] = {}
        taken: dict[str, str] = {}
        chunk: dict[int, list[Sketch]] = {}  # minhash value -> this chunk's originals
        for s, _ in todo:
            key = s["embed_key"]
            if key in own or key in taken:
                continue
            if key not in need and not store.embedded_key(key):
                continue  # a known vector, but one some story took from an original
            me = sketch({**s, "ingested_at": stamp})
            if not rule.eligible(me):
                continue
            if key in need:
                stored = [
                    self.sketches.of(r) for r in store.sketched(me.minhash) if r["embed_key"] != key
                ]
                here = {id(c): c for h in me.minhash for c in chunk.get(h, [])}
                found = rule.original(me, [*stored, *here.values()])
                if found is not None:
                    taken[key] = found.key
                    continue
            own[key] = me
            for h in me.minhash:
                chunk.setdefault(h, []).append(me)
        return own, taken

    def dimension(self) -> int:
        return int(self.store.get_meta("dimension") or 0)

    def update_index(self) -> tuple[VectorIndex | None, bool]:
        """The index with this run's writes, and whether it must be saved after the commit."""
        store, dimension = self.store, self.dimension()
        if not dimension or store.count() == 0:
            self.summary.index = "empty"
            return None, False
        stats = vectors.load_stats(store, dimension)
        index = self.index
        if index is None or vectors.drifted(index, stats):
            index = vectors.rebuild(store, stats, dimension)
            self.summary.index = f"rebuilt ({index.kind}), {len(index)} vectors{self.index_note}"
        elif self.written:
            vids, langs, raw = store.story_vectors(self.written)
            index.remove(vids)
            index.add(vids, index.correct(langs, raw))
            self.summary.index = f"updated {len(vids)}, {len(index)} vectors"
            if index.outgrown():  # crossed embed.index.FLAT_MAX, or an IVF grew 4x
                index = vectors.rebuild(store, stats, dimension)
                self.summary.index = f"rebuilt ({index.kind}), {len(index)} vectors"
        else:
            self.summary.index = f"unchanged, {len(index)} vectors"
            return index, False
        vectors.advance(store, index)
        return index, True
