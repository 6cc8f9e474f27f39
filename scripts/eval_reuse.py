"""What near-verbatim reuse (khabar/stages/reuse.py) takes on real stories, and what it costs.

Over every pair of a JSONL file's stories (one language, as the duplicate check compares
them): the pairs the containment rule holds for (copies), those the reuse rule takes, whether
the MinHash candidates find each taken pair, and the cosine between the two stories' own
vectors for the taken and the refused pairs, with the worst taken pairs' differences (what
a copy's vector loses by taking its original's).

    python scripts/eval_reuse.py [--data ../shared/data/farexstance-fa-dev/docs.jsonl]
"""

from __future__ import annotations

import argparse
import collections
import difflib
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "farexstance-fa-dev" / "docs.jsonl"


def main() -> None:
    from cluster import calibration
    from cluster.duplicates import veto
    from cluster.evidence import containment
    from embed import encoder, model
    from khabar.prepare import model_input
    from khabar.stages.reuse import NearVerbatim, sketch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--worst", type=int, default=5)
    args = ap.parse_args()
    docs = [json.loads(x) for x in args.data.read_text(encoding="utf-8").splitlines() if x]
    rule = NearVerbatim.of(calibration.build()[0])
    t = time.perf_counter()
    dated = {"published_at": "2021-01-01"}
    sk = [sketch({**d, **dated, "title": d.get("title") or "", "embed_key": d["id"]}) for d in docs]
    per_story = (time.perf_counter() - t) / len(sk) * 1e3
    held, taken = [], set()
    for a, b in itertools.combinations(sk, 2):
        if a.lang != b.lang:
            continue
        sa, sb = a.evidence.shingles, b.evidence.shingles
        if min(len(sa), len(sb)) < rule.min_shingles or containment(sa, sb) < rule.contained:
            continue
        if veto(a.evidence, b.evidence) is None:
            held.append((a, b))
            if rule.holds(a, b):
                taken.add((a.order[1], b.order[1]))
    by_hash = collections.defaultdict(list)
    for s in sk:
        for h in s.minhash:
            by_hash[h].append(s)
    found = {
        tuple(sorted((a.order[1], b.order[1])))
        for group in by_hash.values()
        for a, b in itertools.combinations(group, 2)
    }
    ids = sorted({x.order[1] for pair in held for x in pair})
    byid = {d["id"]: d for d in docs}
    rt, info = model.runtime()
    enc = encoder.Encoder(rt, info)
    vecs = enc.encode([model_input(byid[i].get("title") or "", byid[i]["text"]) for i in ids])
    v = dict(zip(ids, vecs, strict=True))

    def cos(a, b) -> float:
        return float(v[a.order[1]] @ v[b.order[1]])

    took = [(cos(a, b), a, b) for a, b in held if (a.order[1], b.order[1]) in taken]
    refused = [cos(a, b) for a, b in held if (a.order[1], b.order[1]) not in taken]

    def span(xs: list[float]) -> dict:
        return {"min": round(min(xs), 4), "median": round(float(np.median(xs)), 4),
                "max": round(max(xs), 4)} if xs else {}  # fmt: skip

    out = {
        "stories": len(docs),
        "sketch_ms_per_story": round(per_story, 2),
        "pairs_held_by_containment": len(held),
        "pairs_taken_by_reuse": len(taken),
        "taken_pairs_found_by_minhash": sum(tuple(sorted(p)) in found for p in taken),
        "stories_taking_a_vector": len({max(p) for p in taken}),
        "cosine_of_own_vectors_taken": span([c for c, _, _ in took]),
        "cosine_of_own_vectors_refused": span(refused),
    }
    print(json.dumps(out, indent=1))
    for c, a, b in sorted(took, key=lambda x: x[0])[: args.worst]:
        print(f"\n{c:.4f} {a.order[1]} {b.order[1]}")
        match = difflib.SequenceMatcher(None, a.lead, b.lead, autojunk=False)
        for op, i1, i2, j1, j2 in match.get_opcodes():
            if op != "equal":
                print(f"  {op} at word {i1}: {' '.join(a.lead[i1:i2])[:90]!r} | "
                      f"{' '.join(b.lead[j1:j2])[:90]!r}")  # fmt: skip


if __name__ == "__main__":
    main()
