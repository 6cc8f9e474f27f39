"""DuplicateDetector, canonical_groups and EventClusterer on hand-built items (no model, no I/O).

Vectors are small unit vectors in 8 dimensions built so that the cosine between two of them
is known exactly; evidence comes from the real `Evidence.of` on normalised text. The scorers
have hand-set weights (not cluster/calibration.json, so that a refit does not change a test),
chosen so that each decision's boundary sits at a cosine one can read off the test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cluster.duplicates import DuplicateDetector, Item, Link, canonical_groups
from cluster.events import Event, EventClusterer
from cluster.evidence import Evidence
from cluster.features import NAMES, pair_features, pair_values
from cluster.scorer import LogisticScorer
from embed.text import normalize

DIM = 8


def basis(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    return v


def at_cos(c: float, base: int = 0, other: int = 1) -> np.ndarray:
    """A unit vector whose cosine with basis(base) is exactly c."""
    v = np.zeros(DIM, dtype=np.float32)
    v[base] = c
    v[other] = math.sqrt(1 - c * c)
    return v


def item(
    key: str,
    vector: np.ndarray,
    text: str = "",
    lang: str = "en",
    day: float = 100.0,
    rank: int = 0,
    content_hash: str | None = None,
) -> Item:
    return Item(
        key=key,
        order=(day, rank),
        day=day,
        lang=lang,
        vector=vector.astype(np.float32),
        evidence=Evidence.of(normalize(text), lang),
        content_hash=content_hash or f"hash-{key}",
    )


def scorer(intercept: float, **weights: float) -> LogisticScorer:
    return LogisticScorer.from_dict(
        {"kind": "logistic", "threshold": 0.5, "intercept": intercept, "weights": weights}
    )


@pytest.fixture
def detector() -> DuplicateDetector:
    return DuplicateDetector(
        # near at cosine 0.9 with no shared wording; a contained copy at a low cosine
        near=scorer(-45.0, cosine=50.0),
        # a translation at cosine 0.45 when the numbers say nothing (agreement 0.5)
        translation=scorer(-11.0, cosine=20.0, numbers_agree=4.0),
        max_days=7.0,
        contained=0.95,
        contained_min_shingles=8,
    )


@pytest.fixture
def clusterer() -> EventClusterer:
    # one event at cosine 0.45 against the mean of the 3 nearest members
    return EventClusterer(
        scorer=scorer(-9.0, cosine=20.0, numbers_agree=4.0, cross_language=0.0),
        members=3,
        time_scale_days=3.0,
        time_weight=0.15,
        close_after_days=7.0,
    )


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# --- DuplicateDetector.pair ------------------------------------------------------------------

PORT = "the port of hamburg reopened after the storm"
BANK = "central bank raises interest rates to fight inflation"


def test_exact_when_content_hash_equal(detector: DuplicateDetector) -> None:
    a = item("a", basis(0), PORT, content_hash="same")
    b = item("b", basis(1), BANK, lang="fa", content_hash="same")  # vectors orthogonal
    d = detector.pair(a, b)
    assert (d.kind, d.probability) == ("exact", 1.0)
    # an exact copy is exact at any age
    old = item("old", basis(1), BANK, day=10.0, content_hash="same")
    assert detector.pair(a, old).kind == "exact"


def test_near_same_language_on_the_probability(detector: DuplicateDetector) -> None:
    a = item("a", basis(0), PORT)
    b = item("b", at_cos(0.95), BANK)  # no shared wording, so the cosine decides
    d = detector.pair(a, b)
    assert d.kind == "near" and d.scorer == "near"
    assert logit(d.probability) == pytest.approx(50 * 0.95 - 45, abs=1e-4)
    assert d.features["cosine"] == pytest.approx(0.95, abs=1e-6)
    below = detector.pair(a, item("c", at_cos(0.85), BANK))
    assert below.kind is None
    assert logit(below.probability) == pytest.approx(50 * 0.85 - 45, abs=1e-4)


def test_near_by_shingle_containment_of_a_trimmed_copy(detector: DuplicateDetector) -> None:
    full = (
        "officials said on monday the old bridge will stay closed for repairs until the end "
        "of the month"
    )
    trimmed = "officials said on monday the old bridge will stay closed for repairs"
    a = item("a", basis(0), full)
    b = item("b", at_cos(0.5), trimmed)  # low cosine: the shingles decide
    d = detector.pair(b, a)
    assert (d.kind, d.rule) == ("near", "contained")
    assert d.probability < 0.5  # the scorer alone would not have called it a copy
    assert d.features["containment"] == pytest.approx(1.0)
    # a headline-sized text held in another is too little to call a copy by rule
    short = item("s", at_cos(0.5), "officials said the bridge")
    assert detector.pair(short, a).kind is None


def test_not_near_when_numbers_conflict(detector: DuplicateDetector) -> None:
    a = item("a", basis(0), "the storm killed 12 people and closed 40 schools")
    b = item("b", at_cos(0.99), "the storm killed 15 people and closed 40 schools")
    d = detector.pair(a, b)
    assert d.kind is None
    assert d.veto == "each states a number the other lacks"
    assert d.probability > 0.5  # the scorer alone would have called it a copy
    # losing a number is not a conflict (a trimmed copy): still near
    c = item("c", at_cos(0.99), "the storm killed 12 people and closed schools")
    assert detector.pair(a, c).kind == "near"


def test_not_near_when_one_side_negates(detector: DuplicateDetector) -> None:
    a = item("a", basis(0), "the minister said the talks will resume next week")
    b = item("b", at_cos(0.99), "the minister said the talks will not resume next week")
    d = detector.pair(a, b)
    assert d.kind is None and "negates" in d.veto
    # both negating is no conflict
    c = item("c", at_cos(0.99), "the minister said the talks will never resume next week")
    assert detector.pair(b, c).kind == "near"


def test_translation_across_languages(detector: DuplicateDetector) -> None:
    en = item("en", basis(0), PORT, lang="en")
    fa = item("fa", at_cos(0.50), "بندر هامبورگ پس از طوفان بازگشایی شد", lang="fa")
    d = detector.pair(en, fa)
    assert (d.kind, d.scorer) == ("translation", "translation")
    assert logit(d.probability) == pytest.approx(20 * 0.5 + 4 * 0.5 - 11, abs=1e-4)
    far = item("far", at_cos(0.40), "بندر هامبورگ پس از طوفان بازگشایی شد", lang="fa")
    assert detector.pair(en, far).kind is None
    # a negation in one language only is no conflict across languages
    neg = item("neg", at_cos(0.50), "بندر هامبورگ بازگشایی نشد و نمی‌شود", lang="fa")
    assert detector.pair(en, neg).kind == "translation"


def test_translation_number_agreement_moves_the_probability(detector: DuplicateDetector) -> None:
    en = item("en", basis(0), "the boy was 13 and 1,200 people watched the rescue", lang="en")
    # same numbers, in Persian digits: 20 * 0.40 + 4 * 1 - 11 = +1 -> a translation
    agree = item("agree", at_cos(0.40), "پسر ۱۳ ساله بود و ۱۲۰۰ نفر نجات را تماشا کردند", lang="fa")
    d = detector.pair(en, agree)
    assert d.kind == "translation" and d.features["numbers_agree"] == 1.0
    # disjoint numbers: 20 * 0.50 + 0 - 11 = -1 -> not
    other = item("other", at_cos(0.50), "پسر ۹ ساله بود و ۳۰۰ نفر نجات را تماشا کردند", lang="fa")
    d = detector.pair(en, other)
    assert d.kind is None and d.features["numbers_agree"] == 0.0


def test_nothing_beyond_max_days(detector: DuplicateDetector) -> None:
    a = item("a", basis(0), PORT, day=100.0)
    near_late = item("b", at_cos(0.99), BANK, day=107.5)
    assert detector.pair(a, near_late).kind is None
    assert detector.pair(near_late, a).probability == 0.0
    trans_late = item("c", at_cos(0.99), BANK, lang="ar", day=92.0)
    assert detector.pair(a, trans_late).kind is None
    on_the_edge = item("d", at_cos(0.99), BANK, day=107.0)
    assert detector.pair(a, on_the_edge).kind == "near"


def test_best_prefers_exact_and_skips_itself(detector: DuplicateDetector) -> None:
    me = item("me", basis(0), PORT, content_hash="h")
    near = item("near", at_cos(0.99), BANK)
    exact = item("exact", basis(3), BANK, content_hash="h")
    weaker = item("weaker", at_cos(0.92), BANK)
    link, _ = detector.best(me, [me, weaker, near, exact])
    assert link == Link("me", "exact", "exact", 1.0)
    link, decision = detector.best(me, [me, weaker, near])
    assert (link.other, link.kind) == ("near", "near")
    assert link.score == pytest.approx(decision.probability)
    assert detector.best(me, [me, item("far", basis(2), BANK)]) is None


def test_best_breaks_ties_by_id_not_by_candidate_order(detector: DuplicateDetector) -> None:
    me = item("me", basis(0), PORT)
    twins = [item(k, at_cos(0.97), BANK) for k in ("b-twin", "a-twin")]
    assert detector.best(me, twins)[0].other == "a-twin"
    assert detector.best(me, twins[::-1])[0].other == "a-twin"


def test_describe_member_against_canonical(detector: DuplicateDetector) -> None:
    canon = item("c", basis(0), PORT, content_hash="h")
    assert detector.describe(item("x", basis(1), BANK, content_hash="h"), canon).kind == "exact"
    assert detector.describe(item("n", at_cos(0.93), BANK), canon).kind == "near"
    # joined through a chain: the kind follows the languages even below the threshold
    assert detector.describe(item("t", at_cos(0.1), BANK, lang="ar"), canon).kind == "translation"
    changed = item("ch", at_cos(0.99), "the storm killed 15 people and closed 40 schools")
    base = item("b", basis(0), "the storm killed 12 people and closed 40 schools")
    assert detector.describe(changed, base).kind is None


def test_decision_as_dict_names_the_evidence(detector: DuplicateDetector) -> None:
    a = item("a", basis(0), "the storm killed 12 people and closed 40 schools")
    b = item("b", at_cos(0.99), "the storm killed 15 people and closed 40 schools")
    d = detector.pair(a, b).as_dict(detector.scorers)
    assert d["kind"] is None and d["veto"]
    names = [c["feature"] for c in d["contributions"]]
    assert names == ["cosine"]


# --- canonical_groups ------------------------------------------------------------------------


TEXTS = [
    PORT,
    BANK,
    "officials said on monday the old bridge will stay closed for repairs until the end "
    "of the month",
    "officials said on monday the old bridge will stay closed for repairs",
    "the storm killed 12 people and closed 40 schools in the north of the country",
    "the storm killed 14 people and closed 40 schools in the north of the country",
    "the minister did not resign after the vote",
    "the minister resigned after the vote",
]


def test_kind_is_the_decision_pair_makes(detector: DuplicateDetector) -> None:
    """`best` decides on `kind`, which reads only the scorer's features and looks for a veto
    only where it matters: on every pair of a grid of texts, languages, cosines and days it
    says what `pair` says, with the same probability for a duplicate."""
    items = [
        item(f"{i}-{lang}-{c}-{day}", at_cos(c), text, lang=lang, day=day)
        for i, text in enumerate(TEXTS)
        for lang in ("en", "fa")
        for c in (0.3, 0.5, 0.88, 0.9, 0.95, 1.0)
        for day in (100.0, 108.0)
    ]
    items.append(item("copy", basis(1), BANK, day=50.0, content_hash="hash-b0"))  # of b0
    base = [item(f"b{i}", basis(0), text) for i, text in enumerate(TEXTS)]
    kinds = set()
    for a in base:
        for b in items:
            d = detector.pair(a, b)
            kind, p = detector.kind(a, b)
            assert kind == d.kind, (a.key, b.key)
            if kind is not None:
                assert p == d.probability
            kinds.add(kind)
    assert kinds == {None, "exact", "near", "translation"}


def test_pair_values_are_pair_features_to_the_bit() -> None:
    """The fold scores pairs from a list of values (`pair_values`, `logit_of`) rather than a
    dict (`pair_features`, `logit`): for every feature, in any order of names, with the
    cosine given or computed, the values and the log-odds must be the same floats."""
    rng = np.random.default_rng(11)
    texts = [*TEXTS, "", "5 people died in 2024", "no 7 people died in 2023 in the port"]
    items = []
    for i, text in enumerate(texts):
        for lang in ("en", "fa"):
            v = rng.normal(size=DIM).astype(np.float32)
            items.append(item(f"{i}-{lang}", v / np.linalg.norm(v), text, lang=lang))
    name_sets = [NAMES, NAMES[::-1], ("cosine",), ("short", "cosine_cross", "numbers_agree")]
    compared = 0
    for names in name_sets:
        s = scorer(
            -2.5, **{n: float(w) for n, w in zip(names, rng.normal(size=len(names)), strict=True)}
        )
        for a in items:
            for b in items:
                for cos in (None, float(a.vector @ b.vector)):
                    want = pair_features(a, b, names, cos)
                    got = pair_values(a, b, s.features, cos)
                    assert got == [want[n] for n in s.features], (names, a.key, b.key)
                    assert s.logit_of(got) == s.logit(want)
                    # the sum stored decisions were made with, term by term, then the intercept
                    terms = zip(s.weights_.tolist(), s.features, strict=True)
                    assert s.logit_of(got) == float(
                        sum(w * want[f] for w, f in terms) + s.intercept_
                    )
                    compared += 1
    assert compared > 2000


def test_nearest_members_are_the_pairwise_ranking(clusterer: EventClusterer) -> None:
    """One matrix product ranks an event's members; the pick must be the pair-by-pair one,
    ties by id, with the story itself left out when it is a member."""
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(30, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # many exact ties, and ids not in member order, so that ties must go by id
    members = [item(f"m{(7 * i) % 30:02d}", vectors[i % 12]) for i in range(30)]
    probe = item(members[5].key, vectors[5])  # a member itself
    outsider = item("q", vectors[3] + 0.01 * vectors[4])
    ev = event("ev", *members)
    for story in (probe, outsider, item("r", vectors[20 % 12])):
        others = [m for m in members if m.key != story.key]
        want = sorted(others, key=lambda m: (-float(story.vector @ m.vector), m.key))[:3]
        got = clusterer.nearest_members(story, ev)
        assert [m.key for m, _ in got] == [m.key for m in want]
        assert [c for _, c in got] == [float(story.vector @ m.vector) for m in want]
    ev.add(item("late", vectors[3]))  # the kept rows grow with the event
    twins = {"late"} | {m.key for i, m in enumerate(members) if i % 12 == 3}
    assert clusterer.nearest_members(outsider, ev)[0][0].key == min(twins)
    assert ev.member_vectors().shape == (31, DIM)


def test_linkage_against_a_growing_event_is_the_match_to_the_bit() -> None:
    """The merging keeps each story's nearest members of an event of earlier nights from one
    linkage to the next and ranks only the members the event gained since (`_Day._against`),
    one story at a time or all the neighbours' stories in one product (`_Day.prepare`):
    after every growth its pair probabilities must be those `match` gives on the grown event,
    exactly, and None where `match` gives None (too far in time), for outsiders and for
    stories that have joined the event themselves."""
    from cluster.events import _Day

    rng = np.random.default_rng(5)
    words = "storm port bank rates inflation election minister court fire flood".split()

    def story(key: str, v: np.ndarray, day: float) -> Item:
        text = " ".join(rng.choice(words, size=int(rng.integers(1, 40))))
        lang = str(rng.choice(["en", "fa", "ar"]))
        return item(key, v / np.linalg.norm(v), text, lang=lang, day=day)

    c = EventClusterer(
        scorer=scorer(-3.8, cosine=10.2, cross_language=-4.2, cosine_cross=7.9, short=1.8),
        members=3,
        time_scale_days=3.0,
        time_weight=0.15,
        close_after_days=7.0,
    )
    centre = rng.normal(size=DIM).astype(np.float32)
    old = [story(f"m{i:02d}", centre + rng.normal(size=DIM), 100.0 + i % 3) for i in range(9)]
    # ties: two new stories share a vector with an old member
    fresh = [story(f"n{i:02d}", centre + rng.normal(size=DIM), 103.0 + i % 7) for i in range(12)]
    fresh[4] = item("n04", old[2].vector, lang="fa", day=104.0)
    fresh[7] = item("n07", old[2].vector, lang="ar", day=104.0)
    far = story("far", centre, 120.0)  # beyond close_after_days: None
    day = _Day(c, [*fresh, far], [event("ev", *old)], {}, {})
    group = day.groups["E:ev"]
    probes = [*fresh, far]
    checked = 0
    others = [day.group_of[p.key] for p in probes]
    assert all(g.startswith("N:") for g in others)
    for turn, step in enumerate((1, 1, 3, 1, 4, 2)):  # the event grows by one or several
        group.new += fresh[len(group.new) : len(group.new) + step]
        view = day._view(group)
        if turn % 2:  # the members gained ranked for all stories in one product first
            day.prepare(group.id, others)
        for probe in probes:
            want = c.match(probe, view, detail=False)
            got = day._against(group.id, view, probe)
            if want is None:
                assert got is None, probe.key
                continue
            assert got == [p for _, p in want.compared], (probe.key, len(view.members))
            checked += 1
    assert checked > 60


def test_canonical_groups_earliest_by_order() -> None:
    # chain b -> a, c -> b: one group {a, b, c}; c is the earliest, so it is canonical even
    # though no link points to it. e -> d: d is earlier. Ties on the day go to the lower rank.
    links = [
        Link("b", "a", "near", 0.95),
        Link("c", "b", "translation", 0.6),
        Link("e", "d", "exact", 1.0),
        Link("g", "f", "near", 0.91),
    ]
    order = {
        "a": (10.0, 5),
        "b": (11.0, 6),
        "c": (9.0, 9),
        "d": (20.0, 1),
        "e": (21.0, 0),
        "f": (30.0, 8),
        "g": (30.0, 7),
    }
    out = canonical_groups(links, order)
    assert out == {"a": "c", "b": "c", "e": "d", "f": "g"}
    assert canonical_groups([], order) == {}


# --- EventClusterer --------------------------------------------------------------------------


def event(eid: str, *members: Item) -> Event:
    e = Event(eid, np.zeros(DIM, dtype=np.float32), 0, members[0].day, members[0].day)
    for m in members:
        e.add(m)
    return e


class Ids:
    """A new_id callable that records who asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, it: Item) -> str:
        self.calls.append(it.key)
        return f"new-{it.key}"


def test_story_joins_a_close_event(clusterer: EventClusterer) -> None:
    old = event("ev-old", item("m", basis(0)))
    ids = Ids()
    assigned, touched, why = clusterer.assign([item("s", at_cos(0.6), day=101.0)], [old], ids)
    assert assigned == {"s": "ev-old"}
    assert ids.calls == []
    assert [e.id for e in touched] == ["ev-old"]
    assert touched[0].size == 2
    assert (touched[0].first_day, touched[0].last_day) == (100.0, 101.0)
    match = why["s"]["match"]
    assert why["s"]["rule"] == "joined" and match["compared"][0]["id"] == "m"
    # one day apart: the Gaussian time prior takes its share, 0.15 cosine at most, in log-odds
    penalty = 0.15 * 20.0 * (1 - math.exp(-1 / 18))
    assert match["time_penalty"] == pytest.approx(penalty, abs=1e-3)
    assert logit(match["probability"]) == pytest.approx(20 * 0.6 + 2 - 9 - penalty, abs=0.02)


def test_far_in_time_opens_a_new_event_even_with_the_same_vector(
    clusterer: EventClusterer,
) -> None:
    old = event("ev-old", item("m", basis(0), day=100.0))
    ids = Ids()
    assigned, touched, why = clusterer.assign([item("late", basis(0), day=108.0)], [old], ids)
    assert assigned == {"late": "new-late"}
    assert ids.calls == ["late"]
    assert [e.id for e in touched] == ["new-late"]
    assert old.size == 1  # untouched
    assert why["late"] == {"rule": "opened", "best": None}  # closed to it: nothing compared
    # within close_after_days it joins
    assigned, _, _ = clusterer.assign([item("week", basis(0), day=106.5)], [old], Ids())
    assert assigned == {"week": "ev-old"}


def test_low_cosine_opens_a_new_event(clusterer: EventClusterer) -> None:
    old = event("ev-old", item("m", basis(0)))
    assigned, _, why = clusterer.assign([item("s", at_cos(0.3), day=100.0)], [old], Ids())
    assert assigned == {"s": "new-s"}
    assert why["s"]["rule"] == "opened" and why["s"]["best"]["event"] == "ev-old"


def test_numbers_shared_with_a_member_tip_the_balance(clusterer: EventClusterer) -> None:
    # cosine 0.40: 8 - 9 = -1 plus 4 * agreement: all shared (+4) joins, none shared (0) not
    member = item("m", basis(0), "a boy of 13 and 1200 people")
    agree = item("agree", at_cos(0.40), "a boy of 13 and 1200 people")
    assigned, _, _ = clusterer.assign([agree], [event("ev-old", member)], Ids())
    assert assigned == {"agree": "ev-old"}
    other = item("other", at_cos(0.40), "a boy of 9 and 77 people")
    assigned, _, _ = clusterer.assign([other], [event("ev-old", member)], Ids())
    assert assigned == {"other": "new-other"}


def test_a_story_near_one_member_only_does_not_chain_into_the_event(
    clusterer: EventClusterer,
) -> None:
    """Single link would join it (cosine 0.95 to one member); the mean over the three nearest
    members (0.95, 0.1, 0.1) is far below the threshold."""
    members = [item("m0", basis(0)), item("m1", basis(2)), item("m2", basis(3))]
    story = item("s", at_cos(0.95, base=0, other=1))
    assigned, _, why = clusterer.assign([story], [event("ev", *members)], Ids())
    assert assigned == {"s": "new-s"}
    assert [c["id"] for c in why["s"]["best"]["compared"]][0] == "m0"


def test_duplicate_joins_its_canonicals_event_despite_a_far_vector(
    clusterer: EventClusterer,
) -> None:
    canon = item("canon", basis(0), day=100.0, rank=0)
    dup = item("dup", basis(1), day=100.5, rank=1)  # orthogonal to the canonical
    ids = Ids()
    assigned, touched, why = clusterer.assign([dup, canon], [], ids, duplicate_of={"dup": "canon"})
    assert assigned == {"canon": "new-canon", "dup": "new-canon"}
    assert ids.calls == ["canon"]
    assert len(touched) == 1 and touched[0].size == 2
    assert why["dup"] == {"rule": "duplicate", "of": "canon"}


def test_duplicate_follows_known_events_over_a_better_match(clusterer: EventClusterer) -> None:
    # The canonical story was assigned in an earlier run to ev-x; ev-y matches the duplicate's
    # vector perfectly, but a duplicate follows its canonical story.
    ev_x, ev_y = event("ev-x", item("x", basis(0))), event("ev-y", item("y", basis(1)))
    dup = item("dup", basis(1), day=100.0)
    ids = Ids()
    assigned, touched, _ = clusterer.assign(
        [dup], [ev_x, ev_y], ids, duplicate_of={"dup": "canon"}, known_events={"canon": "ev-x"}
    )
    assert assigned == {"dup": "ev-x"}
    assert ids.calls == []
    assert [e.id for e in touched] == ["ev-x"]
    # the canonical's event no longer open (not passed in): recreated under its own id
    assigned, touched, _ = clusterer.assign(
        [dup], [ev_y], Ids(), duplicate_of={"dup": "canon"}, known_events={"canon": "ev-old"}
    )
    assert assigned == {"dup": "ev-old"}
    assert [e.id for e in touched] == ["ev-old"]


def test_new_ids_come_from_the_callable_in_time_order(clusterer: EventClusterer) -> None:
    late = item("late", basis(0), day=102.0, rank=0)
    early = item("early", basis(0), day=100.0, rank=5)
    far = item("far", basis(2), day=300.0, rank=1)
    ids = Ids()
    assigned, touched, _ = clusterer.assign([far, late, early], [], ids)
    assert ids.calls == ["early", "far"]
    assert assigned == {"early": "new-early", "late": "new-early", "far": "new-far"}
    assert {e.id for e in touched} == {"new-early", "new-far"}


def test_existing_event_ids_are_kept(clusterer: EventClusterer) -> None:
    a = event("ev-a", item("a", basis(0)))
    b = event("ev-b", item("b", basis(1)))
    c = event("ev-c", item("c", basis(2)))
    items = [item("s1", basis(0), day=101.0), item("s2", basis(1), day=99.0)]
    assigned, touched, _ = clusterer.assign(items, [a, b, c], Ids())
    assert assigned == {"s1": "ev-a", "s2": "ev-b"}
    assert sorted(e.id for e in touched) == ["ev-a", "ev-b"]
    assert (a.size, b.size, c.size) == (2, 2, 1)
    assert (b.first_day, b.last_day) == (99.0, 100.0)


def test_many_events_the_right_one_is_found(clusterer: EventClusterer) -> None:
    # more events than CANDIDATES: the nearest by cosine is still found
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(40, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    events = [event(f"ev-{i:02d}", item(f"m{i}", v)) for i, v in enumerate(vecs)]
    assigned, _, _ = clusterer.assign([item("s", vecs[27])], events, Ids())
    assert assigned == {"s": "ev-27"}


def test_many_new_events_grow_the_table(clusterer: EventClusterer) -> None:
    items = [item(f"s{i:02d}", basis(0), day=100.0 + 10 * i, rank=i) for i in range(40)]
    assigned, touched, _ = clusterer.assign(items, [], Ids())
    assert len(set(assigned.values())) == 40
    assert len(touched) == 40


# --- a day decided as a whole (cluster/merging.py) --------------------------------------------


def mixed(weights: dict[int, float]) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    for axis, w in weights.items():
        v[axis] = w
    return v / np.linalg.norm(v)


def partition(assigned: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for key, eid in assigned.items():
        groups.setdefault(eid, set()).add(key)
    return {frozenset(g) for g in groups.values()}


def test_a_days_events_do_not_depend_on_the_order_its_stories_come_in(
    clusterer: EventClusterer,
) -> None:
    """Two tight groups and a story halfway between them (probability ~0.93 to each group's
    members, ~0.001 across the groups): whichever order the stories come in, and whatever
    their publication ranks, the day ends in the same two events, the bridge in one of them
    (its own pairs decide which, ties by id), never the two groups chained into one."""
    vectors = {
        "a1": mixed({0: 0.8, 1: 0.6}),
        "a2": mixed({0: 0.8, 2: 0.6}),
        "a3": mixed({0: 0.8, 3: 0.6}),
        "b1": mixed({4: 0.8, 5: 0.6}),
        "b2": mixed({4: 0.8, 6: 0.6}),
        "bridge": mixed({0: 0.6, 4: 0.6, 7: 0.529}),
    }
    rng = np.random.default_rng(11)
    seen = set()
    for _ in range(8):
        keys = list(vectors)
        rng.shuffle(keys)
        ranks = rng.permutation(len(keys))
        items = [item(k, vectors[k], rank=int(r)) for k, r in zip(keys, ranks, strict=True)]
        assigned, touched, why = clusterer.assign(items, [], Ids())
        seen.add(frozenset(partition(assigned)))
        assert len(touched) == 2
        assert {why[k]["rule"] for k in vectors} == {"opened", "joined"}
    assert len(seen) == 1
    (groups,) = seen
    sets = sorted(groups, key=len)
    assert {"b1", "b2"} <= sets[0] or {"b1", "b2"} <= sets[1]
    assert not any({"a1", "b1"} <= g for g in groups)
    assert any("bridge" in g for g in groups)


def test_stories_of_one_day_join_an_earlier_event_and_say_with_what(
    clusterer: EventClusterer,
) -> None:
    old = event("ev-old", item("m", basis(0), day=99.0))
    s1 = item("s1", at_cos(0.6, 0, 1), rank=1)
    s2 = item("s2", at_cos(0.6, 0, 2), rank=2)
    far = item("far", basis(5), rank=3)
    ids = Ids()
    assigned, touched, why = clusterer.assign([s2, far, s1], [old], ids)
    assert assigned == {"s1": "ev-old", "s2": "ev-old", "far": "new-far"}
    assert ids.calls == ["far"]
    assert old.size == 3 and [m.key for m in old.members] == ["m", "s1", "s2"]
    for key in ("s1", "s2"):
        assert why[key]["rule"] == "joined"
        assert 0.5 <= why[key]["probability"] <= 1.0  # the merge that brought it
        assert why[key]["match"]["compared"]  # explained against the event's other members
    assert why["far"] == {"rule": "opened", "best": why["far"]["best"]}


def test_two_events_of_earlier_nights_are_never_merged(clusterer: EventClusterer) -> None:
    """A story close to two open events joins one; the two keep their ids and members."""
    a = event("ev-a", item("a", at_cos(0.9, 0, 1)))
    b = event("ev-b", item("b", at_cos(0.9, 0, 2)))
    assigned, touched, _ = clusterer.assign([item("s", basis(0), day=100.0)], [a, b], Ids())
    assert assigned["s"] in ("ev-a", "ev-b")
    assert len(touched) == 1 and (a.size, b.size) in ((2, 1), (1, 2))


def test_merge_groups_best_first_with_fixed_groups_kept_apart() -> None:
    from cluster.merging import merge_groups

    link = {("E:1", "x"): 0.9, ("E:2", "x"): 0.8, ("x", "y"): 0.7, ("E:1", "E:2"): 0.99}
    link.update({("y", "z"): 0.2})

    def linkage(a: str, b: str) -> float | None:
        if a.startswith("E:") and b.startswith("E:"):
            raise AssertionError("two fixed groups were compared")
        return link.get((a, b), link.get((b, a), 0.0))

    merged: list[tuple[str, str]] = []
    into = merge_groups(
        ["E:1", "E:2", "x", "y", "z"],
        [("E:1", "x"), ("E:2", "x"), ("x", "y"), ("y", "z"), ("E:1", "E:2")],
        linkage,
        0.5,
        {"E:1", "E:2"},
        lambda kept, gone, value: merged.append((kept, gone)),
    )
    assert merged[0] == ("E:1", "x")  # the strongest linkage first; the fixed side is kept
    assert into["x"] == "E:1" and into["E:2"] == "E:2" and into["z"] == "z"
    # y was linked to x; after x joined E:1, y is compared with E:1 (0.0 here): apart
    assert into["y"] == "y"
