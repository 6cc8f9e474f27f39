"""Best-first agglomerative merging of groups, the engine under a day's event building.

Why: taking a day's stories one at a time and letting each join the best event so far makes
the outcome depend on the order they come in (the first of a story's reports decides which
event the others find), and a story judged against a half-built event can neither pull in
the reports that come after it nor be left out once they disagree with it. Merging the most
likely pair of groups first, until no pair is likely enough, gives one answer for the whole
day, whatever its order: the standard agglomerative clustering (average linkage when the
linkage is a mean over the pairs of two groups), restricted to pairs of groups that a
candidate edge connects, so a night of thousands of stories is not a square matrix.

Groups are opaque ids; the caller supplies `linkage(a, b)` (None: the two may never merge)
and a `fixed` set of groups that may absorb others but never merge with one another (the
events of earlier nights, whose ids are kept). The merged group keeps the id of the fixed
side, else of the group that sorts first.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable


def merge_groups(
    groups: Iterable[str],
    edges: Iterable[tuple[str, str]],
    linkage: Callable[[str, str], float | None],
    threshold: float,
    fixed: set[str],
    on_merge: Callable[[str, str, float], None],
    prepare: Callable[[str, list[str]], None] | None = None,
) -> dict[str, str]:
    """Merge linked groups, strongest linkage first, while it reaches `threshold`.

    `on_merge(kept, absorbed, linkage)` is called after each merge, before the linkage of the
    grown group is computed again, so the caller can move the absorbed group's members into
    the kept one. Returns {group: the group it ended in}. Ties go by the groups' ids, never by
    the order edges came in. `prepare(a, others)`, if given, is called before the linkages
    of `a` to each of `others` are computed, so the caller can compute them in bulk."""
    alive = set(groups)
    near: dict[str, set[str]] = {g: set() for g in alive}
    for a, b in edges:
        if a != b and a in alive and b in alive and not (a in fixed and b in fixed):
            near[a].add(b)
            near[b].add(a)
    version = dict.fromkeys(alive, 0)
    heap: list[tuple[float, str, str, int, int]] = []

    def push(a: str, b: str) -> None:
        a, b = min(a, b), max(a, b)
        value = linkage(a, b)
        if value is not None and value >= threshold:
            heapq.heappush(heap, (-value, a, b, version[a], version[b]))

    for a in sorted(alive):
        later = [b for b in sorted(near[a]) if a < b]
        if prepare is not None and later:
            prepare(a, later)
        for b in later:
            push(a, b)
    into = {g: g for g in alive}
    while heap:
        value, a, b, va, vb = heapq.heappop(heap)
        if a not in alive or b not in alive or version[a] != va or version[b] != vb:
            continue  # a group changed since this linkage was computed
        kept, gone = (b, a) if b in fixed else (a, b)
        alive.discard(gone)
        version[kept] += 1
        into[gone] = kept
        on_merge(kept, gone, -value)
        around = near.pop(gone)
        for c in around:
            near[c].discard(gone)
        others = (around | near[kept]) - {kept, gone}
        if kept in fixed:
            others = {c for c in others if c not in fixed}
        near[kept] = others
        for c in others:
            near[c].add(kept)
        relink = sorted(others)
        if prepare is not None and relink:
            prepare(kept, relink)
        for c in relink:
            push(kept, c)
    # Follow the chain of merges to the group each ended in.
    for g in into:
        root = into[g]
        while into[root] != root:
            root = into[root]
        into[g] = root
    return into
