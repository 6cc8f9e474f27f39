"""Fit the duplicate and event decisions and write cluster/calibration.json.

Every labelled development pair that asks a scorer's question (khabar/suite/fit.py) is
prepared and embedded exactly as the nightly job does (the suite's homes), with the
features of the model that never saw it: a licensed set's row in fold j is embedded by the
fold-j adapter. Then:

- each scorer's weights are fitted on all rows, its threshold chosen by an inner grouped
  K-fold split (the out-of-fold probabilities at the threshold of best mean F1 over the
  scorer's sets);
- `--ablation` reports, per scorer, the pairwise out-of-fold F1 with every feature, with
  each feature dropped in turn, and with the cosine alone: how the features were chosen;
- the fixed priors (time decay, the window, members compared) are written beside the fitted
  values, with the reason they are not fitted.

    python scripts/calibrate.py ../shared/data [--ablation] [--write]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from cluster import calibration
from cluster.features import NAMES
from embed import model as modellib
from khabar.suite import fit, folds
from khabar.suite.run import Suite

CANDIDATES = NAMES  # every feature cluster/features.py computes
PRIORS = {
    "duplicates": {"max_days": 7.0, "contained": 0.95, "contained_min_shingles": 8},
    "events": {
        "members": 3,
        "time_scale_days": 3.0,
        "time_weight": 0.15,
        "close_after_days": 7.0,
    },
}
NOT_FITTED = (
    "contained (0.95) and contained_min_shingles (8) define a copy held whole in another "
    "text, a rule and not a fit. max_days, close_after_days, time_scale_days and "
    "time_weight follow news-stream clustering practice (a Gaussian decay over a few days, "
    "up to 0.15 of cosine as khabar's cosine rule had it, events closed after a week): the "
    "development sets carry no real publication dates to fit them on. members (the event "
    "members a story is compared with) was chosen with `khabar eval --suite`."
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="the development data folder (../shared/data)")
    ap.add_argument("--ablation", action="store_true", help="measure each feature's worth")
    ap.add_argument("--write", action="store_true", help="update cluster/calibration.json")
    ap.add_argument("--cache", type=Path, default=modellib.cache_dir() / "suite" / "vectors.db")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="khabar-calibrate-") as tmp:
        suite = Suite(args.data, Path(tmp), args.cache)
        suite.prepare_models()
        rows = suite.fit_rows()
    override, reports = fit.fit_all(rows)
    measured: dict = {"fitted": reports}
    scorers = {
        "near": override["duplicates"]["near"],
        "translation": override["duplicates"]["translation"],
        "event": override["events"]["scorer"],
    }
    from cluster.scorer import LogisticScorer

    measured["sign_violations"] = {
        k: fit.sign_violations(LogisticScorer.from_dict(v)) for k, v in scorers.items()
    }
    for name, rs in rows.items():
        measured.setdefault("pairwise_out_of_fold_f1", {})[name] = fit.cross_validate(
            rs, fit.FEATURES[name]
        )
    if args.ablation:
        ablation = {}
        for name, rs in rows.items():
            feats = fit.FEATURES[name]
            entry = {"chosen": fit.cross_validate(rs, feats)["mean"]}
            entry["cosine only"] = fit.cross_validate(rs, ("cosine",))["mean"]
            for f in feats:
                if f != "cosine":
                    entry[f"without {f}"] = fit.cross_validate(
                        rs, tuple(x for x in feats if x != f)
                    )["mean"]
            for f in CANDIDATES:
                if f not in feats:
                    scorer, _ = fit.fit_scorer(rs, (*feats, f))
                    entry[f"with {f}"] = {
                        "mean_f1": fit.cross_validate(rs, (*feats, f))["mean"],
                        "sign_violations": fit.sign_violations(scorer),
                    }
            ablation[name] = entry
        measured["ablation_mean_f1"] = ablation
    config = {
        "duplicates": {**override["duplicates"], **PRIORS["duplicates"]},
        "events": {**override["events"], **PRIORS["events"]},
        "provenance": {
            "how": "scripts/calibrate.py: weights fitted on every labelled development pair "
            "(ANS, ExaPPC, NTREX and synthetic NTREX copies, FarExStance, SemEval), each row "
            "embedded by the adapter that never saw it; thresholds by grouped "
            f"{folds.K}-fold cross-validation inside them",
            "measured": measured,
            "not_fitted": NOT_FITTED,
        },
    }
    print(json.dumps(config, indent=1, ensure_ascii=False))
    if args.write:
        calibration.DEFAULTS.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        print(f"written {calibration.DEFAULTS}")


if __name__ == "__main__":
    main()
