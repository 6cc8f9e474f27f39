"""Accuracy of embed.text.detect_language on the labelled development data, per source, as JSON.

Usage: python scripts/eval_langid.py [DATA_DIR] [--errors N]
DATA_DIR defaults to /work/shared/data (folders ntrex-dev, exappc-fa-dev, ans-ar-dev, seeds).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from embed.text import detect_language  # noqa: E402

_ARABIC_LAYOUT = str.maketrans({"\u06cc": "\u064a", "\u06a9": "\u0643"})


def _jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _samples(data: Path) -> Iterator[tuple[str, str, str]]:
    """(source, expected language, text) for every labelled text."""
    for doc in _jsonl(data / "ntrex-dev" / "docs.jsonl"):
        yield f"ntrex-title-{doc['lang']}", doc["lang"], doc["title"]
        yield f"ntrex-text-{doc['lang']}", doc["lang"], doc["text"]
    for pair in _jsonl(data / "exappc-fa-dev" / "pairs.jsonl"):
        for key in ("text1", "text2"):
            yield "exappc-fa", "fa", pair[key]
            # The same Persian typed on an Arabic keyboard layout (ي and ك), as scrapes often are.
            yield "exappc-fa-arabic-yeh-kaf", "fa", pair[key].translate(_ARABIC_LAYOUT)
    for pair in _jsonl(data / "ans-ar-dev" / "pairs.jsonl"):
        for key in ("text1", "text2"):
            yield "ans-ar", "ar", pair[key]
    for label in _jsonl(data / "seeds" / "labels.jsonl"):
        text = (data / "seeds" / label["file"]).read_text(encoding="utf-8")
        yield "seeds", label["lang"], text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", nargs="?", default="/work/shared/data", type=Path)
    parser.add_argument("--errors", type=int, default=0, help="print up to N misses per source")
    args = parser.parse_args()

    stats: dict[str, dict] = {}
    for source, expected, text in _samples(args.data):
        got = detect_language(text)
        s = stats.setdefault(source, {"n": 0, "correct": 0, "confusions": {}, "misses": []})
        s["n"] += 1
        if got == expected:
            s["correct"] += 1
        else:
            s["confusions"][got] = s["confusions"].get(got, 0) + 1
            if len(s["misses"]) < args.errors:
                s["misses"].append({"got": got, "text": text[:160]})
    report = {}
    for source, s in stats.items():
        entry = {"n": s["n"], "accuracy": round(s["correct"] / s["n"], 4)}
        if s["confusions"]:
            entry["confusions"] = s["confusions"]
        if s["misses"]:
            entry["misses"] = s["misses"]
        report[source] = entry
    total = sum(s["n"] for s in stats.values())
    report["all"] = {
        "n": total,
        "accuracy": round(sum(s["correct"] for s in stats.values()) / total, 4),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
