"""The labelled development sets, read into one shape: stories to run, pairs to score.

Each folder of `../shared/data` (see its README) becomes a `Task`:

- `docs` tasks put every story of the set into one home, as a real night would (NTREX: one
  weekend of news in en/fa/ar; FarExStance: Persian articles of many agencies; the seeds);
- `pairs` tasks decide each pair on its own (ANS, ExaPPC, SemEval): pairs carry no dates,
  so pair i is dated i*30 days after a base date and pairs sharing a text go to separate
  homes (`rounds`), exactly as `khabar eval FILE` does.

A `Measure` names labelled pairs and the relation scored on them: `event` (the two stories
end in one event), `duplicate` (one is flagged as a copy of the other, or both of one
story) or `either`. Every pair and every story belongs to a group (a story, an article, a
claim, or the headlines one text ties together), so that cross-validation keeps a group on
one side (khabar/suite/folds.py). `licensed` says whether the set's licence lets khabar ship
weights trained on it (ANS, ExaPPC: Apache-2.0; NTREX: CC BY-SA 4.0); FarExStance and
SemEval texts are used to evaluate and to choose, never to train what ships.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cluster.duplicates import components
from khabar.evaluate import labelled_rows

PAIR_BASE = date(2000, 1, 1)
PAIR_SPACING_DAYS = 30
ONE_NIGHT = "2019-06-01"  # NTREX and FarExStance stories have no usable dates: one night


class DataError(ValueError):
    """A development set is missing or unreadable; the message names the file."""


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    label: bool
    group: str


@dataclass
class Measure:
    name: str
    relation: str  # event | duplicate | either
    pairs: list[Pair]
    negatives_apart: bool = False  # also report the share of negative pairs kept apart


@dataclass
class Task:
    name: str
    title: str
    mode: str  # docs | pairs
    docs: dict[str, dict[str, Any]]  # story id -> input row (khabar's JSONL fields)
    measures: list[Measure]
    licensed: bool
    group: dict[str, str] = field(default_factory=dict)  # story id -> group (docs mode)
    source: Path | None = None
    files: list[Path] = field(default_factory=list)  # .txt stories (the seeds), read as such


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"{path}: missing (see ../shared/data/README.md)")
    return labelled_rows(path, DataError)


# --- docs tasks ------------------------------------------------------------------------------


def ntrex(folder: Path) -> Task:
    """Events against `event_id` (ambiguous event pairs skipped), duplicates against
    `article_id` (the en/fa/ar versions of one article are translations of it)."""
    rows = read_jsonl(folder / "docs.jsonl")
    amb_path = folder / "ambiguous.jsonl"
    ambiguous = {
        frozenset((r["event_a"], r["event_b"]))
        for r in (read_jsonl(amb_path) if amb_path.is_file() else [])
    }
    # A group is an event together with the events it may be confused with.
    comp = components(
        [(r["event_id"], r["event_id"]) for r in rows] + [tuple(a) for a in ambiguous]
    )
    docs, group = {}, {}
    for r in rows:
        sid = str(r["id"])
        docs[sid] = {
            "id": sid,
            "title": r.get("title") or "",
            "text": r["text"],
            "lang": r.get("lang"),
            "outlet": r.get("outlet"),
            "published_at": ONE_NIGHT,
        }
        group[sid] = "ntrex:" + comp[r["event_id"]]
    events, dups = [], []
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            ga, gb = group[str(a["id"])], group[str(b["id"])]
            g = min(ga, gb)
            dups.append(Pair(str(a["id"]), str(b["id"]), a["article_id"] == b["article_id"], g))
            if frozenset((a["event_id"], b["event_id"])) in ambiguous:
                continue
            events.append(Pair(str(a["id"]), str(b["id"]), a["event_id"] == b["event_id"], g))
    return Task(
        "ntrex",
        "NTREX-128 dev: 56 articles x en/fa/ar, one weekend",
        "docs",
        docs,
        [
            Measure("events", "event", events),
            Measure("translations", "duplicate", dups),
        ],
        licensed=True,
        group=group,
        source=folder,
    )


def farexstance(folder: Path) -> Task:
    """Same story (one event or one duplicate group) for the labelled pairs; a negative is an
    article retrieved for a story's claim and judged unrelated to it."""
    rows = read_jsonl(folder / "docs.jsonl")
    labelled = read_jsonl(folder / "pairs.jsonl")
    comp = components(
        [(p["id1"], "story:" + p["story_id"]) for p in labelled]
        + [(p["id2"], "story:" + p["story_id"]) for p in labelled]
    )
    docs, group = {}, {}
    for r in rows:
        sid = str(r["id"])
        docs[sid] = {
            "id": sid,
            "title": r.get("title") or "",
            "text": r["text"],
            "lang": r.get("lang") or "fa",
            "published_at": ONE_NIGHT,
        }
        group[sid] = "farex:" + comp.get(sid, sid)
    pairs = [
        Pair(str(p["id1"]), str(p["id2"]), bool(p["same_story"]), group[str(p["id1"])])
        for p in labelled
        if str(p["id1"]) in docs and str(p["id2"]) in docs
    ]
    return Task(
        "farexstance",
        "FarExStance dev: 697 Persian articles of many agencies",
        "docs",
        docs,
        [Measure("same story", "either", pairs, negatives_apart=True)],
        licensed=False,
        group=group,
        source=folder,
    )


SEED_EVENTS = {  # examples/seeds: 000 and 001 cover one event, 002-004 one each
    "000_f69bc762bef1ca03": "a",
    "001_26b40dc472a4c13d": "a",
    "002_6a3f37bcd1ee8004": "b",
    "003_c88877ada34d95fb": "c",
    "004_71ca3bdb161265d3": "d",
}


def seeds(folder: Path) -> Task:
    """The five scraped seed stories, read as the .txt files they are (dates from the text)."""
    labels = {r["file"]: r for r in read_jsonl(folder / "labels.jsonl")}
    files = sorted(folder / name for name in labels)
    for f in files:
        if not f.is_file():
            raise DataError(f"{f}: missing (listed in {folder / 'labels.jsonl'})")
    ids = [f.stem for f in files]
    event = {f.stem: labels[f.name]["event"] for f in files}
    pairs = [
        Pair(a, b, event[a] == event[b], "seeds") for i, a in enumerate(ids) for b in ids[i + 1 :]
    ]
    return Task(
        "seeds",
        "the five seed stories (4 fa, 1 ar), as scraped",
        "docs",
        {sid: {"id": sid} for sid in ids},
        [Measure("events", "event", pairs)],
        licensed=False,
        group={sid: "seeds" for sid in ids},
        source=folder,
        files=files,
    )


# --- pairs tasks -----------------------------------------------------------------------------


def _pairs_task(
    name: str,
    title: str,
    path: Path,
    label,
    relation: str,
    licensed: bool,
    measure: str,
) -> Task:
    rows = read_jsonl(path)
    kept = [(r, label(r)) for r in rows]
    kept = [(r, y) for r, y in kept if y is not None]
    # Headlines that share a text are one group: ANS builds several pairs on one headline.
    comp = components([(r["text1"], r["text2"]) for r, _ in kept])
    docs: dict[str, dict[str, Any]] = {}
    pairs = []
    for i, (r, y) in enumerate(kept):
        pid = str(r.get("pair_id", i))
        day = (PAIR_BASE + timedelta(days=PAIR_SPACING_DAYS * i)).isoformat()
        a, b = f"{pid}/1", f"{pid}/2"
        for sid, text, lang in (
            (a, r["text1"], r.get("lang") or r.get("lang1")),
            (b, r["text2"], r.get("lang") or r.get("lang2")),
        ):
            doc = {"id": sid, "text": text, "published_at": day}
            if lang:
                doc["lang"] = lang
            docs[sid] = doc
        root = hashlib.sha1(comp[r["text1"]].encode("utf-8")).hexdigest()[:12]
        pairs.append(Pair(a, b, y, f"{name}:{root}"))
    return Task(
        name, title, "pairs", docs, [Measure(measure, relation, pairs)], licensed, source=path
    )


def ans(folder: Path) -> Task:
    def label(r):
        s = r.get("stance")
        return None if s not in ("agree", "disagree") else s == "agree"

    return _pairs_task(
        "ans",
        "ANS dev: Arabic headline pairs, paraphrase or changed fact",
        folder / "pairs.jsonl",
        label,
        "duplicate",
        True,
        "agree as duplicate",
    )


def exappc(folder: Path) -> Task:
    return _pairs_task(
        "exappc",
        "ExaPPC dev: Persian paraphrase pairs",
        folder / "pairs.jsonl",
        lambda r: bool(int(r["label"])),
        "either",
        True,
        "paraphrase together",
    )


SEMEVAL_SAME, SEMEVAL_DIFFERENT = 1.5, 3.0


def semeval(folder: Path) -> Task:
    def label(r):
        o = float(r["overall"])
        if o <= SEMEVAL_SAME:
            return True
        return False if o >= SEMEVAL_DIFFERENT else None

    return _pairs_task(
        "semeval",
        "SemEval-2022 Task 8 dev: article pairs in 9 languages",
        folder / "pairs.jsonl",
        label,
        "either",
        False,
        "same story",
    )


FOOTER = "\n\nAll rights reserved. Share this story: Facebook Twitter Email"


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?؟])\s+|\n+", text) if s.strip()]


def copy_variants(doc: dict[str, Any], rng: random.Random) -> list[tuple[str, dict, bool]]:
    """(kind, copy, is_a_copy) as republishers make them: the ending trimmed by a third, the
    lead sentence as the new headline, a tenth of the sentences dropped and a site footer
    added; and a changed fact: one number altered (not a copy)."""
    sents = _sentences(doc["text"])
    out = []
    if len(sents) >= 3:
        keep = sents[: max(2, int(len(sents) * 2 / 3))]
        out.append(("trimmed", {"title": doc["title"], "text": " ".join(keep)}, True))
        out.append(("new headline", {"title": sents[0], "text": " ".join(sents[1:])}, True))
        drop = set(rng.sample(range(len(sents)), max(1, len(sents) // 10)))
        edited = " ".join(x for i, x in enumerate(sents) if i not in drop) + FOOTER
        out.append(("edited", {"title": doc["title"], "text": edited}, True))
    numbers = re.findall(r"\d+", doc["text"])
    if numbers:
        n = rng.choice(numbers)
        changed = re.sub(rf"\b{n}\b", str(int(n) + 7), doc["text"], count=1)
        out.append(("changed number", {"title": doc["title"], "text": changed}, False))
    return out


def copies(folder: Path) -> Task:
    """Synthetic republished copies of the NTREX articles (licensed text), each against its
    original: copies flagged as near duplicates, a changed number not. Grouped with the
    article's NTREX group, so folds agree with the NTREX task's."""
    base = ntrex(folder)
    rng = random.Random(7)
    docs: dict[str, dict[str, Any]] = {}
    pairs = []
    i = 0
    for sid, doc in sorted(base.docs.items()):
        for kind, variant, is_copy in copy_variants(doc, rng):
            day = (PAIR_BASE + timedelta(days=PAIR_SPACING_DAYS * i)).isoformat()
            i += 1
            a, b = f"{sid}~{kind}/original", f"{sid}~{kind}"
            docs[a] = {"id": a, "title": doc["title"], "text": doc["text"], "published_at": day}
            docs[b] = {"id": b, **variant, "published_at": day}
            for d in (docs[a], docs[b]):
                d["lang"] = doc["lang"]
            pairs.append(Pair(a, b, is_copy, base.group[sid]))
    return Task(
        "copies",
        "synthetic copies of NTREX articles: trimmed, retitled, edited; a changed number",
        "pairs",
        docs,
        [Measure("copies flagged", "duplicate", pairs)],
        licensed=True,
        source=folder,
    )


LOADERS = {
    "ntrex": ("ntrex-dev", ntrex),
    "farexstance": ("farexstance-fa-dev", farexstance),
    "semeval": ("semeval-dev", semeval),
    "ans": ("ans-ar-dev", ans),
    "exappc": ("exappc-fa-dev", exappc),
    "copies": ("ntrex-dev", copies),
    "seeds": ("seeds", seeds),
}


def load(data: Path, names: list[str] | None = None) -> list[Task]:
    """The tasks of the folders present under `data` (all of LOADERS when `names` is None;
    a named folder that is missing is an error)."""
    tasks = []
    for name, (sub, loader) in LOADERS.items():
        if names is not None and name not in names:
            continue
        folder = data / sub
        if not folder.is_dir():
            if names is not None:
                raise DataError(f"{folder}: missing")
            continue
        tasks.append(loader(folder))
    if not tasks:
        raise DataError(f"{data}: none of {', '.join(s for s, _ in LOADERS.values())} found")
    return tasks


def rounds(task: Task) -> list[list[str]]:
    """Pair tasks: the story ids split into homes in which no text appears twice, so that a
    text shared by several pairs cannot tie them together as an exact copy."""
    from embed.text import normalize

    out: list[tuple[set[str], list[str]]] = []
    for p in task.measures[0].pairs:
        keys = {normalize(task.docs[p.a]["text"]), normalize(task.docs[p.b]["text"])}
        for seen, members in out:
            if not keys & seen:
                seen |= keys
                members += [p.a, p.b]
                break
        else:
            out.append((set(keys), [p.a, p.b]))
    return [members for _, members in out]
