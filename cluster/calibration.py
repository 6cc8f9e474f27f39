"""The fitted decisions, in one place: the duplicate scorers, the event scorer, their
thresholds and the fixed priors beside them.

Defaults live in `cluster/calibration.json`, written by `scripts/calibrate.py`, which also
records there how each value was obtained (data, folds, out-of-fold figures). A user
overrides any part with a JSON file of the same shape (`khabar nightly --thresholds FILE`,
or `thresholds.json` in the home), e.g. `{"events": {"scorer": {"threshold": 0.6}}}`;
unknown keys are an error, not silently ignored. The evaluation suite passes whole fitted
decisions this way.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from cluster.duplicates import DuplicateDetector
from cluster.events import EventClusterer
from cluster.scorer import LogisticScorer

DEFAULTS = Path(__file__).with_name("calibration.json")
SECTIONS = ("duplicates", "events")
SCORERS = {"duplicates": ("near", "translation"), "events": ("scorer",)}


def merge(base: dict[str, Any], extra: dict[str, Any], where: str) -> None:
    """Update `base` with `extra` in place; keys `base` lacks are an error, except inside a
    scorer's `weights` and `means` (a refitted scorer may use other features)."""
    for key, value in extra.items():
        if key not in base:
            raise ValueError(f"{where}: unknown key {key!r}")
        if isinstance(value, dict) and key in ("weights", "means"):
            base[key] = value
        elif isinstance(value, dict) and isinstance(base[key], dict):
            merge(base[key], value, f"{where}.{key}")
        else:
            base[key] = value


def load(override: Path | dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.loads(DEFAULTS.read_text(encoding="utf-8"))
    if override is not None:
        if isinstance(override, dict):
            extra, where = copy.deepcopy(override), "override"
        else:
            extra, where = json.loads(Path(override).read_text(encoding="utf-8")), str(override)
        for section, values in extra.items():
            if section == "provenance":
                continue
            if section not in SECTIONS:
                raise ValueError(f"{where}: unknown section {section!r}")
            merge(data[section], values, f"{where}: {section}")
    return data


def build(
    override: Path | dict[str, Any] | None = None,
) -> tuple[DuplicateDetector, EventClusterer]:
    data = load(override)
    d, e = dict(data["duplicates"]), dict(data["events"])
    for name in SCORERS["duplicates"]:
        d[name] = LogisticScorer.from_dict(d[name])
    e["scorer"] = LogisticScorer.from_dict(e["scorer"])
    return DuplicateDetector(**d), EventClusterer(**e)
