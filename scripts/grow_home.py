"""Grow a real home to N stories for benchmarks: copies of its real events, spread over time.

    python scripts/grow_home.py HOME --total 100000 [--seed 0]

bench_cli.py grows a home with copies of real stories and perturbed vectors, but leaves them
outside any event. The pages list events, so this grows it with whole events instead: each
synthetic event copies one real event (all its languages: real headlines and texts), starts
at a random minute of 2023-2024, spreads its stories over up to three days, adds republished
copies flagged `near` (a few events get hundreds, to exercise paging), keeps the real event's
translation flags, and gets an id `ev-YYYYMMDD-NNNN` like the nightly job's. Vectors are the
real ones plus noise (about cosine 0.9). The stories, vectors and events are written straight
into the database in one transaction; then run `khabar reindex` (bench_service.py does).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2023, 1, 1, tzinfo=UTC)
SPAN_MINUTES = 2 * 365 * 24 * 60
BIG_EVERY = 1500  # one event in this many gets BIG_COPIES republished copies
BIG_COPIES = 400
OUTLETS = [f"outlet-{i:02d}" for i in range(40)]

COLUMNS = (
    "id vid outlet url lang title text raw_text content_hash input_hash embed_key published_at "
    "date_source ingested_at updated_at metadata event_id duplicate_of duplicate_kind "
    "duplicate_score duplicate_evidence event_score event_evidence"
).split()


def real_events(store) -> list[list[dict]]:
    """The home's events, each a list of its stories (with their raw vector), oldest first."""
    rows = store.db.execute(
        "SELECT s.id, s.lang, s.title, s.text, s.outlet, s.url, s.event_id, s.duplicate_of, "
        "s.duplicate_kind, s.duplicate_score, s.duplicate_evidence, v.vector "
        "FROM stories s JOIN vectors v USING(embed_key) WHERE s.event_id IS NOT NULL "
        "ORDER BY s.event_id, COALESCE(s.published_at, s.ingested_at), s.vid"
    ).fetchall()
    events: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        events[r["event_id"]].append(dict(r))
    return list(events.values())


def grow(home: Path, total: int, seed: int = 0) -> dict:
    """Add synthetic events until the home holds `total` stories; returns what was added."""
    sys.path.insert(0, str(ROOT))
    from khabar.store import Store, now

    store = Store(home)
    have = store.count()
    if have >= total:
        return {"stories": have, "added": 0, "events_added": 0}
    templates = real_events(store)
    if not templates:
        sys.exit(f"{home} has no clustered stories to copy: run `khabar nightly` first")
    rng = np.random.default_rng(seed)
    vid = store.next_vid()
    per_day: dict[str, int] = defaultdict(int)
    for (eid,) in store.db.execute("SELECT id FROM events"):
        day = eid[3:11]
        per_day[day] = max(per_day[day], int(eid[-4:]))
    stamp = now()
    stories, vectors, events = [], [], []
    added = 0
    marks = ",".join("?" * len(COLUMNS))
    insert = f"INSERT INTO stories({','.join(COLUMNS)}) VALUES({marks})"

    def flush() -> None:
        store.db.executemany(insert, stories)
        store.db.executemany("INSERT INTO vectors(embed_key, vector) VALUES(?, ?)", vectors)
        store.db.executemany("INSERT INTO events(id, created_at) VALUES(?, ?)", events)
        stories.clear()
        vectors.clear()
        events.clear()

    with store.transaction():
        while have + added < total:
            template = templates[int(rng.integers(len(templates)))]
            t0 = START + timedelta(minutes=int(rng.integers(SPAN_MINUTES)))
            day = t0.strftime("%Y%m%d")
            per_day[day] += 1
            eid = f"ev-{day}-{per_day[day]:04d}"
            events.append((eid, stamp))
            big = len(events) % BIG_EVERY == 0
            first_of: dict[str, str] = {}  # real id -> the synthetic id of its first copy
            opener = None
            for i, real in enumerate(template):
                extra = BIG_COPIES if big and i == 0 else int(rng.geometric(0.6)) - 1
                for c in range(1 + extra):
                    if have + added >= total:
                        break
                    sid = f"syn{vid}"
                    when = t0 + timedelta(minutes=17 * i + int(rng.integers(0, 4320)) * (c > 0))
                    blob = np.frombuffer(real["vector"], dtype=np.float32)
                    vec = blob + rng.standard_normal(blob.shape[0]).astype(np.float32) * 0.025
                    vec /= np.linalg.norm(vec)
                    key = f"synthetic-{vid}"
                    if c == 0:
                        first_of[real["id"]] = sid
                        canon = first_of.get(real["duplicate_of"] or "")
                        dup = (
                            (canon, real["duplicate_kind"], real["duplicate_score"])
                            if canon
                            else (None, None, None)
                        )
                        dup_ev = real["duplicate_evidence"] if canon else None
                        outlet = real["outlet"] or OUTLETS[int(rng.integers(len(OUTLETS)))]
                    else:
                        score = round(float(rng.uniform(0.9, 0.999)), 4)
                        dup = (first_of[real["id"]], "near", score)
                        dup_ev = json.dumps(
                            {
                                "kind": "near",
                                "probability": score,
                                "scorer": "near",
                                "contributions": [
                                    {"feature": "containment", "value": 0.98, "contribution": 4.1}
                                ],
                            }
                        )
                        outlet = OUTLETS[int(rng.integers(len(OUTLETS)))]
                    if opener is None:
                        opener, why, escore = sid, {"rule": "opened", "best": None}, None
                    elif dup[0]:
                        why, escore = {"rule": "duplicate", "of": dup[0]}, None
                    else:
                        escore = round(float(rng.uniform(0.6, 0.95)), 4)
                        why = {
                            "rule": "joined",
                            "match": {
                                "event": eid,
                                "probability": escore,
                                "gap_days": 0.0,
                                "time_penalty": 0.0,
                                "compared": [{"id": opener, "probability": escore}],
                                "features": {},
                            },
                        }
                    stories.append(
                        (
                            sid,
                            vid,
                            outlet,
                            real["url"],
                            real["lang"],
                            real["title"],
                            real["text"],
                            real["text"],
                            key,
                            key,
                            key,
                            when.replace(microsecond=0).isoformat(),
                            "metadata",
                            stamp,
                            stamp,
                            "{}",
                            eid,
                            *dup,
                            dup_ev,
                            escore,
                            json.dumps(why),
                        )
                    )
                    vectors.append((key, vec.tobytes()))
                    vid += 1
                    added += 1
            if len(stories) >= 20_000:
                flush()
                print(f"grown to {have + added} stories", file=sys.stderr, flush=True)
        flush()
    events_added = store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    store.close()
    return {"stories": have + added, "added": added, "events": events_added}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("home", type=Path)
    ap.add_argument("--total", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(json.dumps(grow(args.home, args.total, args.seed)))


if __name__ == "__main__":
    main()
