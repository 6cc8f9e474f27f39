"""SQLite storage: stories, their vectors, language statistics, runs.

The database is the source of truth; the FAISS index next to it is derived from the vectors
kept here. Vectors are stored once per distinct model input (keyed by its hash, as simonw/llm
does), so an exact copy or an unchanged story is never embedded twice. Writers take an
IMMEDIATE transaction: a crash or an error mid-run leaves the previous committed state.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 4
SKETCHES = """CREATE TABLE IF NOT EXISTS sketches (
    vid INTEGER PRIMARY KEY,  -- a story embedded by the model (khabar/stages/reuse.py)
    a INTEGER NOT NULL, b INTEGER NOT NULL  -- two MinHash values of its shingles
);
CREATE INDEX IF NOT EXISTS sketches_a ON sketches(a);
CREATE INDEX IF NOT EXISTS sketches_b ON sketches(b)"""
LANG_DAYS = """CREATE TABLE IF NOT EXISTS lang_days (
    lang TEXT NOT NULL, day INTEGER NOT NULL, count INTEGER NOT NULL,
    sum BLOB NOT NULL,  -- int64 fixed point (khabar/langdays.py): exact in any order
    PRIMARY KEY (lang, day)
)"""
# What changed since schema 1; a writer brings an older home up (readers never write).
MIGRATIONS = {
    2: [
        "ALTER TABLE stories ADD COLUMN duplicate_evidence TEXT",  # JSON: why it is a copy
        "ALTER TABLE stories ADD COLUMN event_score REAL",  # probability it joined its event
        "ALTER TABLE stories ADD COLUMN event_evidence TEXT",  # JSON: why that event
    ],
    3: [LANG_DAYS],  # filled from the stories by khabar.langdays.fill after the migration
    4: SKETCHES.split(";\n"),  # left empty: older stories are not originals for reuse
}
LOCK_TIMEOUT = float(os.environ.get("KHABAR_LOCK_TIMEOUT", "30"))  # seconds a writer waits
DB_FILE = "khabar.db"

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stories (
    id TEXT PRIMARY KEY,
    vid INTEGER NOT NULL UNIQUE,          -- stable int64 id in the vector index
    outlet TEXT, url TEXT, lang TEXT NOT NULL,
    title TEXT NOT NULL, text TEXT NOT NULL,  -- cleaned: boilerplate removed, lines joined
    raw_text TEXT NOT NULL,                -- as received
    content_hash TEXT NOT NULL,            -- of the normalised title + text: exact copies
    input_hash TEXT NOT NULL,              -- of every input field: "unchanged" means equal
    embed_key TEXT NOT NULL,               -- the model input's hash, into vectors
    published_at TEXT, date_source TEXT,
    ingested_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    source TEXT,                           -- file:line it last came from
    metadata TEXT NOT NULL DEFAULT '{}',
    event_id TEXT, duplicate_of TEXT, duplicate_kind TEXT, duplicate_score REAL,
    duplicate_evidence TEXT, event_score REAL, event_evidence TEXT
);
CREATE INDEX IF NOT EXISTS stories_published ON stories(published_at);
CREATE INDEX IF NOT EXISTS stories_content ON stories(content_hash);
CREATE INDEX IF NOT EXISTS stories_embed ON stories(embed_key);
CREATE TABLE IF NOT EXISTS vectors (
    embed_key TEXT PRIMARY KEY, vector BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS lang_stats (
    lang TEXT PRIMARY KEY, count INTEGER NOT NULL, sum BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS stories_event ON stories(event_id);
"""
    + LANG_DAYS
    + ";\n"
    + SKETCHES
    + """;
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,
    summary TEXT NOT NULL
);
"""
)

WHEN = "COALESCE(published_at, ingested_at)"  # a story's time: published, else ingested

STORY_FIELDS = (
    "id vid outlet url lang title text raw_text content_hash input_hash embed_key published_at "
    "date_source ingested_at updated_at source metadata event_id duplicate_of duplicate_kind "
    "duplicate_score duplicate_evidence event_score event_evidence"
).split()

# What the fold reads of the stories around a day (khabar/clustering.py).
FOLD_FIELDS = [
    f
    for f in STORY_FIELDS
    if f not in ("raw_text", "metadata", "duplicate_evidence", "event_evidence")
]


class StoreError(RuntimeError):
    """The database is missing, corrupt or belongs to another model; the message says the fix."""


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _row(r: sqlite3.Row | None) -> dict[str, Any] | None:
    if r is None:
        return None
    d = dict(r)
    if "metadata" in d:
        d["metadata"] = json.loads(d["metadata"] or "{}")
    return d


class Store:
    def __init__(self, home: Path, create: bool = True):
        self.home = Path(home)
        self.path = self.home / DB_FILE
        if not self.path.exists() and not create:
            raise StoreError(
                f"no khabar database in {self.home}: ingest some stories first "
                "(`khabar ingest PATH`), or point --home / KHABAR_HOME at an existing home"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA synchronous=FULL")
            version = self._schema_version()
            if version is None:  # a new home: create it (the only write a reader may do)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.executescript(SCHEMA)
                self.set_meta("schema_version", str(SCHEMA_VERSION))
            elif int(version) < SCHEMA_VERSION and create:
                self._migrate(int(version))
            elif int(version) > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema {version}, newer than this khabar's "
                    f"{SCHEMA_VERSION}: upgrade khabar"
                )
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(
                    f"{self.home} is locked by another khabar run: try again when it is done"
                ) from exc
            raise StoreError(f"{self.path} is not a readable khabar database ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path} is not a readable khabar database ({exc}); move it aside and "
                "re-ingest your files into a fresh home"
            ) from exc

    def _migrate(self, version: int) -> None:
        """Bring a home of an older schema up to this one, in one transaction."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[v]:
                    self.db.execute(statement)
            if version < 3:
                from khabar import langdays

                langdays.fill(self)
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _schema_version(self) -> str | None:
        exists = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        return self.get_meta("schema_version") if exists else None

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One writer at a time; everything inside commits together or not at all. A second
        writer waits for the first (up to LOCK_TIMEOUT seconds), then stops cleanly."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(
                    f"another khabar run is writing to {self.home} and did not finish within "
                    f"{LOCK_TIMEOUT} s; nothing was changed: run again when it is done"
                ) from exc
            raise
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def checkpoint(self) -> None:
        """Inside `transaction()`: commit what is done so far and go on in a new one (a
        backfill commits each folded day)."""
        self.db.execute("COMMIT")
        self.db.execute("BEGIN IMMEDIATE")

    # --- meta --------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        r = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if r is None else r[0]

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def check_model(self, name: str, dimension: int) -> None:
        """A home holds vectors of one model; refuse to mix in another's."""
        have = self.get_meta("model")
        if have is None:
            self.set_meta("model", name)
            self.set_meta("dimension", str(dimension))
        elif have != name or int(self.get_meta("dimension") or 0) != dimension:
            raise StoreError(
                f"{self.home} holds vectors of model {have!r}; run with --model {have} or use "
                "another --home for a different model"
            )

    # --- stories -----------------------------------------------------------------------------

    def get(self, story_id: str) -> dict[str, Any] | None:
        return _row(self.db.execute("SELECT * FROM stories WHERE id=?", (story_id,)).fetchone())

    def by_vids(self, vids: Iterable[int]) -> dict[int, dict[str, Any]]:
        return self._rows_in("vid", [int(v) for v in vids])

    def by_ids(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return self._rows_in("id", sorted(set(ids)))

    def _rows_in(self, column: str, values: list) -> dict[Any, dict[str, Any]]:
        """Whole stories whose `column` is one of `values`, keyed by it; 500 to a query."""
        out: dict[Any, dict[str, Any]] = {}
        for i in range(0, len(values), 500):
            part = values[i : i + 500]
            q = f"SELECT * FROM stories WHERE {column} IN ({','.join('?' * len(part))})"
            for r in self.db.execute(q, part):
                out[r[column]] = _row(r)
        return out

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM stories").fetchone()[0]

    def next_vid(self) -> int:
        r = self.db.execute("SELECT MAX(vid) FROM stories").fetchone()[0]
        return 1 if r is None else int(r) + 1

    def insert(self, story: dict[str, Any]) -> None:
        cols = [c for c in STORY_FIELDS if c in story]
        values = [
            json.dumps(story[c], ensure_ascii=False) if c == "metadata" else story[c] for c in cols
        ]
        self.db.execute(
            f"INSERT INTO stories({','.join(cols)}) VALUES({','.join('?' * len(cols))})", values
        )

    def update(self, story_id: str, fields: dict[str, Any]) -> None:
        self.update_many([(story_id, fields)])

    def update_many(self, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Rows of (story id, fields), written in order. Why: a night's fold sets a few
        columns on tens of thousands of stories, and one `executemany` per run of rows that
        set the same columns costs a fraction of a statement per row."""
        for cols, run in itertools.groupby(rows, key=lambda r: tuple(r[1])):
            self.db.executemany(
                f"UPDATE stories SET {', '.join(c + '=?' for c in cols)} WHERE id=?",
                [
                    [
                        *(
                            json.dumps(f[c], ensure_ascii=False) if c == "metadata" else f[c]
                            for c in cols
                        ),
                        story_id,
                    ]
                    for story_id, f in run
                ],
            )

    def iter_stories(self, order: str = "published_at, vid") -> Iterator[dict[str, Any]]:
        for r in self.db.execute(f"SELECT * FROM stories ORDER BY {order}"):
            yield _row(r)

    def vids_with_lang(self, lang: str) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT vid FROM stories WHERE lang=?", (lang,))]

    # --- clustering ---------------------------------------------------------------------------

    def unclustered(self) -> list[dict[str, Any]]:
        """Stories not yet in an event, oldest first."""
        q = f"SELECT * FROM stories WHERE event_id IS NULL ORDER BY {WHEN}, vid"
        return [_row(r) for r in self.db.execute(q)]

    def clustered_between(self, lo: str, hi: str) -> list[dict[str, Any]]:
        """Stories already in an event, published between the ISO dates lo and hi, with the
        fields a fold reads (`FOLD_FIELDS`): it reads a window of days for every day it
        folds, and the raw text and the stored evidence are most of a row."""
        cols = ", ".join(FOLD_FIELDS)
        q = f"SELECT {cols} FROM stories WHERE event_id IS NOT NULL AND {WHEN} >= ? AND {WHEN} <= ?"
        return [_row(r) for r in self.db.execute(q, (lo, hi + "T99"))]

    def between(self, lo: str, hi: str) -> list[dict[str, Any]]:
        """Every story published between the ISO dates lo and hi, in an event or not."""
        q = f"SELECT * FROM stories WHERE {WHEN} >= ? AND {WHEN} <= ?"
        return [_row(r) for r in self.db.execute(q, (lo, hi + "T99"))]

    def with_duplicates_of(self, ids: list[str]) -> list[dict[str, Any]]:
        """The stories `ids` and the stories flagged as duplicates of them."""
        out: dict[str, dict[str, Any]] = {}
        for sid in ids:
            for r in self.db.execute(
                "SELECT * FROM stories WHERE id=? OR duplicate_of=?", (sid, sid)
            ):
                out[r["id"]] = _row(r)
        return list(out.values())

    def same_content(self, hashes: Iterable[str], in_event: bool = False) -> dict[str, list[str]]:
        """Story ids per content hash, across the whole home: exact copies of any age (with
        `in_event`, only those already in an event)."""
        hashes = sorted(set(hashes))
        out: dict[str, list[str]] = {}
        folded = " AND event_id IS NOT NULL" if in_event else ""
        for i in range(0, len(hashes), 500):
            part = hashes[i : i + 500]
            marks = ",".join("?" * len(part))
            q = f"SELECT content_hash, id FROM stories WHERE content_hash IN ({marks}){folded}"
            for h, sid in self.db.execute(q, part):
                out.setdefault(h, []).append(sid)
        return out

    def events_of(self, ids: Iterable[str]) -> dict[str, str]:
        out = {}
        for sid in ids:
            r = self.db.execute("SELECT event_id FROM stories WHERE id=?", (sid,)).fetchone()
            if r and r[0]:
                out[sid] = r[0]
        return out

    def new_event(self, prefix: str) -> str:
        """Allocate the next id with this prefix; ids are never reused."""
        r = self.db.execute(
            "SELECT MAX(id) FROM events WHERE id LIKE ?", (prefix.replace("%", "") + "%",)
        ).fetchone()[0]
        n = int(r[len(prefix) :]) + 1 if r else 1
        event_id = f"{prefix}{n:04d}"
        self.db.execute("INSERT INTO events(id, created_at) VALUES(?, ?)", (event_id, now()))
        return event_id

    def events(self, since: str | None = None) -> list[dict[str, Any]]:
        """Events with their size, languages and span, newest first."""
        q = (
            f"SELECT event_id AS id, COUNT(*) AS stories, "
            f"MIN({WHEN}) AS first, MAX({WHEN}) AS last, "
            "GROUP_CONCAT(DISTINCT lang) AS langs, "
            "SUM(date_source = 'file') AS file_dates, "
            "SUM(duplicate_of IS NOT NULL) AS duplicates "
            "FROM stories WHERE event_id IS NOT NULL GROUP BY event_id"
        )
        rows = [dict(r) for r in self.db.execute(q)]
        if since:
            rows = [r for r in rows if (r["last"] or "") >= since]
        rows.sort(key=lambda r: (r["last"] or "", r["id"]), reverse=True)
        return rows

    def event_stories(self, event_id: str) -> list[dict[str, Any]]:
        q = f"SELECT * FROM stories WHERE event_id=? ORDER BY {WHEN}, vid"
        return [_row(r) for r in self.db.execute(q, (event_id,))]

    def copies_of(self, story_id: str) -> list[dict[str, Any]]:
        """The stories flagged as duplicates of this one."""
        q = "SELECT * FROM stories WHERE duplicate_of=? ORDER BY vid"
        return [_row(r) for r in self.db.execute(q, (story_id,))]

    def duplicates(self) -> list[dict[str, Any]]:
        q = "SELECT * FROM stories WHERE duplicate_of IS NOT NULL ORDER BY duplicate_of, vid"
        return [_row(r) for r in self.db.execute(q)]

    # --- vectors -----------------------------------------------------------------------------

    def has_vectors(self, keys: Iterable[str]) -> set[str]:
        keys = list(keys)
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            q = f"SELECT embed_key FROM vectors WHERE embed_key IN ({','.join('?' * len(part))})"
            found.update(r[0] for r in self.db.execute(q, part))
        return found

    def put_vector(self, key: str, vector: np.ndarray) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO vectors(embed_key, vector) VALUES(?, ?)",
            (key, np.asarray(vector, dtype=np.float32).tobytes()),
        )

    def vector(self, key: str) -> np.ndarray | None:
        r = self.db.execute("SELECT vector FROM vectors WHERE embed_key=?", (key,)).fetchone()
        return None if r is None else np.frombuffer(r[0], dtype=np.float32).copy()

    def story_vectors(
        self, vids: Iterable[int] | None = None
    ) -> tuple[np.ndarray, list[str], np.ndarray]:
        """(vids, langs, raw vectors) of the given stories, or all, in vid order."""
        q = "SELECT s.vid, s.lang, v.vector FROM stories s JOIN vectors v USING(embed_key)"
        if vids is None:
            rows = self.db.execute(q + " ORDER BY s.vid").fetchall()
        else:
            wanted = sorted({int(v) for v in vids})
            rows = []
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                rows += self.db.execute(
                    q + f" WHERE s.vid IN ({','.join('?' * len(part))}) ORDER BY s.vid", part
                ).fetchall()
        dim = int(self.get_meta("dimension") or 0)
        vids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        langs = [r[1] for r in rows]
        vecs = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(-1, dim)
        return vids, langs, vecs

    def iter_story_vectors(self, chunk: int) -> Iterator[tuple[np.ndarray, list[str], np.ndarray]]:
        """`story_vectors()` of every story, `chunk` stories at a time, in vid order."""
        last = 0
        while True:
            part = [
                r[0]
                for r in self.db.execute(
                    "SELECT vid FROM stories WHERE vid > ? ORDER BY vid LIMIT ?", (last, chunk)
                )
            ]
            if not part:
                return
            yield self.story_vectors(part)
            last = part[-1]

    # --- sketches: which embedded story a near-verbatim copy may take its vector from ------

    def sketched(self, minhash: tuple[int, int]) -> list[dict[str, Any]]:
        """Stories embedded by the model that share a MinHash value with `minhash`."""
        q = (
            "SELECT s.id, s.lang, s.title, s.text, s.embed_key, s.published_at, s.ingested_at"
            " FROM sketches k JOIN stories s USING(vid) WHERE k.a=? OR k.b=?"
        )
        return [dict(r) for r in self.db.execute(q, minhash)]

    def put_sketch(self, vid: int, minhash: tuple[int, int] | None) -> None:
        """Record (or, with None, forget) that story `vid` was embedded by the model."""
        self.db.execute("DELETE FROM sketches WHERE vid=?", (vid,))
        if minhash is not None:
            self.db.execute("INSERT INTO sketches(vid, a, b) VALUES(?, ?, ?)", (vid, *minhash))

    def embedded_key(self, key: str) -> bool:
        """Whether some story with this embed key was embedded by the model itself (its
        vector is its text's, not an original's it took)."""
        q = "SELECT 1 FROM stories s JOIN sketches k USING(vid) WHERE s.embed_key=? LIMIT 1"
        return self.db.execute(q, (key,)).fetchone() is not None

    def drop_unused_vectors(self) -> int:
        cur = self.db.execute(
            "DELETE FROM vectors WHERE embed_key NOT IN (SELECT embed_key FROM stories)"
        )
        return cur.rowcount

    # --- language statistics -----------------------------------------------------------------

    def load_lang_stats(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        sums, counts = {}, {}
        for lang, count, blob in self.db.execute("SELECT lang, count, sum FROM lang_stats"):
            sums[lang] = np.frombuffer(blob, dtype=np.float64).copy()
            counts[lang] = int(count)
        return sums, counts

    def save_lang_stats(self, sums: dict[str, np.ndarray], counts: dict[str, int]) -> None:
        self.db.execute("DELETE FROM lang_stats")
        self.db.executemany(
            "INSERT INTO lang_stats(lang, count, sum) VALUES(?, ?, ?)",
            [
                (k, counts[k], np.asarray(v, np.float64).tobytes())
                for k, v in sums.items()
                if counts[k]
            ],
        )

    def add_lang_days(self, rows: dict[tuple[str, int], tuple[int, np.ndarray]]) -> None:
        """Add (count, int64 sum) to each (language, day) row."""
        for (lang, day), (count, total) in rows.items():
            r = self.db.execute(
                "SELECT count, sum FROM lang_days WHERE lang=? AND day=?", (lang, day)
            ).fetchone()
            if r is not None:
                count += int(r[0])
                total = total + np.frombuffer(r[1], dtype=np.int64)
            self.db.execute(
                "INSERT OR REPLACE INTO lang_days(lang, day, count, sum) VALUES(?, ?, ?, ?)",
                (lang, day, count, np.asarray(total, dtype=np.int64).tobytes()),
            )

    def load_lang_days(self) -> list[tuple[str, int, int, np.ndarray]]:
        """(language, day, count, int64 sum) rows, in day order."""
        q = "SELECT lang, day, count, sum FROM lang_days WHERE count != 0 ORDER BY day, lang"
        return [
            (lang, int(day), int(n), np.frombuffer(blob, dtype=np.int64))
            for lang, day, n, blob in self.db.execute(q)
        ]

    # --- runs --------------------------------------------------------------------------------

    def record_run(self, command: str, started_at: str, summary: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO runs(command, started_at, finished_at, summary) VALUES(?, ?, ?, ?)",
            (command, started_at, now(), json.dumps(summary, ensure_ascii=False)),
        )

    def unreported_events(self) -> tuple[int, list[str]]:
        """The last run's id, and the events touched by the runs no report has covered yet
        (one, unless a run was killed between its commit and its report)."""
        since = int(self.get_meta("reported_through_run") or 0)
        last, events = since, set()
        for run_id, summary in self.db.execute(
            "SELECT id, summary FROM runs WHERE id > ? ORDER BY id", (since,)
        ):
            last = run_id
            events.update((json.loads(summary).get("clustering") or {}).get("events", []))
        return last, sorted(events)
