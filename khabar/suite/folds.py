"""Grouped folds: every story, article or claim falls on one side of each split.

One assignment serves the adapter's training (scripts/train_adapter.py), the decisions'
fitting (scripts/calibrate.py) and the suite (khabar/suite/run.py), so that the fold-k
adapter and the fold-k decisions never saw a row the suite scores for fold k. The groups are
sorted, shuffled with a fixed seed and dealt round-robin: the assignment depends only on the
set of groups, never on the order rows were read in.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

K = 5
SEED = 20261201


def assign(groups: Iterable[str], k: int = K, seed: int = SEED) -> dict[str, int]:
    """group -> fold in 0..k-1."""
    unique = sorted(set(groups))
    random.Random(seed).shuffle(unique)
    return {g: i % k for i, g in enumerate(unique)}


def of_task(task) -> dict[str, int]:
    """group -> fold for one task (khabar.suite.datasets.Task): the groups of its stories
    and of its pairs (a pair across two groups carries the smaller one, so it is scored in
    exactly one fold)."""
    groups = set(task.group.values()) | {p.group for m in task.measures for p in m.pairs}
    return assign(groups)
