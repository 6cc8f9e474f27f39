"""Compute a model's reference per-language mean vectors and write embed/reference/NAME.json.

These means are the prior of the language-bias correction (embed.encoder.LanguageStats): a
new home has too few stories to estimate its own, so it starts from these and moves to its
own statistics as stories arrive. The corpus is NTREX-128's dev half (news documents in
English with human translations into Persian and Arabic, CC BY-SA 4.0): full news articles
in the three languages on the same spread of topics, so the means differ by language and
not by subject. Stories are prepared exactly as `khabar ingest` prepares them.

    python scripts/reference_means.py ../shared/data/ntrex-dev/docs.jsonl [--model PATH]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from embed import model
from embed.encoder import REFERENCE_DIR, Encoder
from khabar.prepare import prepare
from khabar.sources import Record, read_paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", help="JSONL with id, text, title and lang")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()

    m, info = model.runtime(args.model)
    encoder = Encoder(m, info)
    records = [r for r in read_paths([args.corpus]) if isinstance(r, Record)]
    stories = [prepare(r, info.name) for r in records]
    vectors = encoder.encode([s["_model_input"] for s in stories])
    by_lang: dict[str, list[np.ndarray]] = {}
    for story, vec in zip(stories, vectors, strict=True):
        by_lang.setdefault(story["lang"], []).append(vec)
    out = {
        "model": info.name,
        "corpus": Path(args.corpus).name,
        "counts": {lang: len(v) for lang, v in sorted(by_lang.items())},
        "means": {
            lang: np.mean(v, axis=0).round(6).tolist() for lang, v in sorted(by_lang.items())
        },
    }
    REFERENCE_DIR.mkdir(exist_ok=True)
    path = REFERENCE_DIR / f"{info.name}.json"
    path.write_text(json.dumps(out) + "\n", encoding="utf-8")
    print(json.dumps({"written": str(path), "counts": out["counts"]}))


if __name__ == "__main__":
    main()
