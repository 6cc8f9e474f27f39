"""The learned decision layer: the scorer as data, the pair features, the calibration file,
the folds of the suite (no model needed)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cluster import calibration
from cluster.evidence import Evidence, attributions, fold, terms
from cluster.features import NAMES, evidence_features
from cluster.scorer import LogisticScorer, sigmoid
from embed.text import normalize
from khabar.suite import folds


def ev(text: str, lang: str = "en") -> Evidence:
    return Evidence.of(normalize(text), lang)


# --- LogisticScorer --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted() -> tuple[LogisticScorer, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2)) * [0.2, 3.0] + [0.5, 10.0]
    y = (4 * x[:, 0] - 0.3 * x[:, 1] + rng.normal(scale=0.3, size=400)) > (2 - 3)
    return LogisticScorer(("cosine", "short")).fit(x, y), x, y


def test_scorer_learns_the_direction_of_each_feature(fitted) -> None:
    s, x, y = fitted
    assert s.weights_[0] > 0 > s.weights_[1]
    accuracy = float((s.predict(x) == y).mean())
    assert accuracy > 0.85


def test_scorer_round_trips_as_data(fitted) -> None:
    s, x, _ = fitted
    data = json.loads(json.dumps(s.to_dict()))
    assert data["kind"] == "logistic" and set(data["weights"]) == {"cosine", "short"}
    back = LogisticScorer.from_dict(data)
    assert np.allclose(back.predict_proba(x), s.predict_proba(x), atol=1e-4)


def test_scorer_probability_is_the_sigmoid_of_its_stored_weights(fitted) -> None:
    s, _, _ = fitted
    d = s.to_dict()
    values = {"cosine": 0.7, "short": 9.0}
    z = d["intercept"] + sum(d["weights"][k] * v for k, v in values.items())
    assert s.probability(values) == pytest.approx(sigmoid(z), abs=1e-4)


def test_explain_sums_to_the_log_odds_against_the_mean_pair(fitted) -> None:
    s, _, _ = fitted
    values = {"cosine": 0.9, "short": 4.0}
    contributions = s.explain(values)
    mean = {f: float(m) for f, m in zip(s.features, s.means_, strict=True)}
    total = sum(c["contribution"] for c in contributions)
    assert total == pytest.approx(s.logit(values) - s.logit(mean), abs=0.01)
    assert abs(contributions[0]["contribution"]) >= abs(contributions[-1]["contribution"])


def test_unfitted_scorer_and_bad_data_are_errors() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        LogisticScorer(("cosine",)).probability({"cosine": 0.5})
    with pytest.raises(ValueError, match="scorer kind"):
        LogisticScorer.from_dict({"kind": "forest"})
    with pytest.raises(ValueError, match="columns"):
        LogisticScorer(("a", "b")).fit(np.zeros((4, 3)), np.array([0, 1, 0, 1]))


def test_sigmoid_is_stable_at_the_extremes() -> None:
    assert sigmoid(-1000) == 0.0 and sigmoid(1000) == 1.0
    assert sigmoid(0) == 0.5
    assert math.isclose(sigmoid(2) + sigmoid(-2), 1.0)


# --- features --------------------------------------------------------------------------------


def test_names_meet_across_persian_and_arabic_spellings() -> None:
    fa = terms(normalize("دیدار پوتین و علی‌اف در چچن"))
    ar = terms(normalize("لقاء بوتين وعلييف في الشيشان"))
    assert fold("پوتین") in fa and fold("پوتین") in ar  # پ/ب and ی/ي folded together


def test_attributions_find_agencies_in_the_lead_only() -> None:
    assert attributions(normalize("تهران- ایرنا- رییس مجلس گفت")) == {"ایرنا"}
    assert attributions(normalize("MOSCOW (Reuters) - the Kremlin said")) == {"reuters"}
    # a common word that is also an agency's name counts after a marker only
    assert attributions(normalize("در مهر ماه باران آمد")) == frozenset()
    assert attributions(normalize("به گزارش خبرگزاری مهر وزیر گفت")) == {fold("مهر")}
    late = " ".join(["word"] * 80) + " reuters"
    assert attributions(normalize(late)) == frozenset()


def test_evidence_features_of_a_trimmed_copy_and_of_another_story() -> None:
    full = ev("officials said the bridge will stay closed for repairs until the end of the month")
    trimmed = ev("officials said the bridge will stay closed for repairs")
    other = ev("the football club signed a new striker from spain on monday")
    copy = evidence_features(full, trimmed)
    assert copy["containment"] == 1.0
    assert copy["terms_unmatched"] == 0.0  # the trimmed side says nothing the full one lacks
    assert copy["length_ratio"] == pytest.approx(9 / 15)
    apart = evidence_features(full, other)
    assert apart["containment"] == 0.0 and apart["terms_unmatched"] == 1.0
    assert apart["terms_shared"] == 0.0


def test_evidence_features_numbers_and_languages() -> None:
    en = ev("the storm killed 12 people and closed 40 schools")
    fa = ev("طوفان ۱۲ نفر را کشت و ۴۰ مدرسه را بست", "fa")
    changed = ev("the storm killed 15 people and closed 40 schools")
    f = evidence_features(en, fa)
    assert f["cross_language"] == 1.0 and f["numbers_agree"] == 1.0
    assert f["containment"] == 0.0  # shingles mean nothing across languages
    g = evidence_features(en, changed)
    assert g["numbers_conflict"] == 1.0 and g["cross_language"] == 0.0
    assert set(f) | {"cosine", "cosine_cross"} == set(NAMES)


def test_same_source_needs_a_credit_on_both_sides() -> None:
    a = ev("تهران- ایرنا- رییس مجلس گفت که جلسه برگزار شد", "fa")
    b = ev("به گزارش ایرنا رییس مجلس گفت جلسه برگزار شد", "fa")
    c = ev("به گزارش ایسنا رییس مجلس گفت جلسه برگزار شد", "fa")
    d = ev("رییس مجلس گفت جلسه برگزار شد", "fa")
    assert evidence_features(a, b)["same_source"] == 1.0
    assert evidence_features(a, c)["same_source"] == 0.0
    assert evidence_features(a, d)["same_source"] == 0.5


# --- calibration -----------------------------------------------------------------------------


def test_shipped_calibration_builds_and_names_its_provenance() -> None:
    data = calibration.load()
    detector, clusterer = calibration.build()
    assert set(detector.scorers) == {"near", "translation"}
    assert 0 < clusterer.threshold < 1 and clusterer.members >= 1
    assert data["provenance"]["how"]
    for s in (*detector.scorers.values(), clusterer.scorer):
        assert set(s.features) <= set(NAMES)


def test_override_changes_one_value_and_refuses_unknown_keys(tmp_path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"events": {"scorer": {"threshold": 0.9}, "members": 2}}))
    _, clusterer = calibration.build(path)
    assert clusterer.threshold == 0.9 and clusterer.members == 2
    path.write_text(json.dumps({"events": {"treshold": 0.9}}))
    with pytest.raises(ValueError, match="treshold"):
        calibration.build(path)
    path.write_text(json.dumps({"clusters": {}}))
    with pytest.raises(ValueError, match="clusters"):
        calibration.build(path)


# --- folds -----------------------------------------------------------------------------------


def test_folds_are_balanced_stable_and_ignore_order() -> None:
    groups = [f"g{i}" for i in range(103)]
    a = folds.assign(groups)
    b = folds.assign(list(reversed(groups)) + groups[:10])
    assert a == b
    sizes = np.bincount(list(a.values()), minlength=folds.K)
    assert sizes.max() - sizes.min() <= 1
    assert folds.assign(groups, seed=folds.SEED + 1) != a


def test_arabic_negations_are_found_after_normalisation() -> None:
    """The markers are written in Arabic spelling; normalised text has Persian yeh."""
    assert ev("مستشفى مصري ينفي التسبب في الوفاة", "ar").negations == 1
    assert ev("هذا ليس صحيحا", "ar").negations == 1
    assert ev("مستشفى مصري يعلن التسبب في الوفاة", "ar").negations == 0


def test_scale_words_belong_to_their_number() -> None:
    from cluster.evidence import fact_conflict, numbers

    assert numbers(normalize("165 مليار درهم")) == {"165b"}
    assert numbers(normalize("a package of 165 billion dirhams")) == {"165b"}
    billion = ev("165 مليار درهم في التكرير والبتروكيماويات استثمارات من قبل أدنوك", "ar")
    million = ev("165 مليون درهم في التكرير والبتروكيماويات استثمارات من قبل أدنوك", "ar")
    assert fact_conflict(billion, million)
