"""How often `khabar similar --id` ranks a version of the same story first, across languages.

Ingests a labelled JSONL (fields id, text, lang, event_id; e.g. NTREX dev: each story in en,
fa and ar) into a temporary home through the real pipeline, then asks the same Searcher the
CLI uses for the top hit of every story in the chosen languages, among all languages. The
raw-cosine figure (no language correction) is computed on the same stored vectors, side by
side. Prints JSON.

    python scripts/eval_similar.py ../shared/data/ntrex-dev/docs.jsonl [--langs fa,ar]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

import embed.encoder as encoder_module
from embed import model
from embed.encoder import Encoder
from khabar.pipeline import ingest
from khabar.search import Searcher
from khabar.store import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--langs", default="fa,ar", help="languages whose stories are queried")
    ap.add_argument("--model", default=None)
    ap.add_argument(
        "--no-reference",
        action="store_true",
        help="ignore the shipped reference means: correct with the home's own statistics only",
    )
    args = ap.parse_args()
    if args.no_reference:
        encoder_module.REFERENCE_DIR = Path(tempfile.mkdtemp())
    langs = set(args.langs.split(","))
    labels = {}
    with open(args.file, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            labels[str(row["id"])] = row["event_id"]

    def factory() -> Encoder:
        return Encoder(*model.runtime(args.model))

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        name = model.resolve(args.model)[0]
        summary = ingest(store, [args.file], factory, name)
        searcher = Searcher(store, factory)
        stories = list(store.iter_stories())
        queried = [s for s in stories if s["lang"] in langs]
        hits = 0
        for s in queried:
            top = searcher.by_id(s["id"], k=1)
            hits += bool(top) and labels[top[0].story["id"]] == labels[s["id"]]

        # Raw cosine on the very same stored vectors.
        ids = [s["id"] for s in stories]
        raw = np.stack([store.vector(s["embed_key"]) for s in stories])
        sims = raw @ raw.T
        np.fill_diagonal(sims, -np.inf)
        raw_hits = sum(
            labels[ids[int(np.argmax(sims[i]))]] == labels[ids[i]]
            for i, s in enumerate(stories)
            if s["lang"] in langs
        )
        detected = sum(1 for s in stories if s["lang"])
    print(
        json.dumps(
            {
                "file": args.file,
                "stories": len(stories),
                "queried": len(queried),
                "top1_corrected": round(hits / len(queried), 4),
                "top1_raw_cosine": round(raw_hits / len(queried), 4),
                "ingest": {k: v for k, v in summary.as_dict().items() if k != "rejections"},
                "with_language": detected,
                "reference_means": not args.no_reference,
            }
        )
    )


if __name__ == "__main__":
    main()
