"""The naive pipeline that khabar's nightly job is measured against (scripts/bench_nightly.py).

What anyone would write first with the same weights: sentence-transformers in fp32 with the
`query: ` prompt and batch 16 (texts cut at the model's 512 tokens), a FAISS flat index, and a
range search at a cosine threshold whose connected components are the events. No language
correction, no evidence, no store: it is a speed reference, not a quality one.

    python scripts/naive_peer.py STORIES.jsonl [--threshold 0.9]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stories", type=Path)
    ap.add_argument("--threshold", type=float, default=0.9)
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import faiss
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from sentence_transformers import SentenceTransformer

    from embed import model

    _, folder = model.resolve()
    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    rows = [json.loads(line) for line in args.stories.read_text(encoding="utf-8").splitlines()]
    texts = [f"{r.get('title') or ''}\n{r['text']}".strip() for r in rows]
    vecs = st.encode(texts, prompt="query: ", batch_size=16, normalize_embeddings=True)
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(np.ascontiguousarray(vecs, dtype=np.float32))
    lims, _, ids = index.range_search(vecs, args.threshold)
    src = np.repeat(np.arange(len(rows)), np.diff(lims))
    graph = coo_matrix((np.ones(len(ids)), (src, ids)), shape=(len(rows), len(rows)))
    n_events, _ = connected_components(graph, directed=False)
    print(json.dumps({"stories": len(rows), "events": int(n_events)}))


if __name__ == "__main__":
    main()
