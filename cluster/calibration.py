"""The thresholds of the duplicate detector and the event clusterer, in one place.

Defaults live in `cluster/calibration.json`, written by `scripts/calibrate.py`, which also
records there how each value was obtained (data, criterion, figures). A user overrides any
of them with a JSON file of the same shape (`khabar nightly --thresholds FILE`, or
`thresholds.json` in the home); unknown keys are an error, not silently ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cluster.duplicates import DuplicateDetector
from cluster.events import EventClusterer

DEFAULTS = Path(__file__).with_name("calibration.json")
SECTIONS = {"duplicates": DuplicateDetector, "events": EventClusterer}


def load(override: Path | None = None) -> dict[str, Any]:
    data = json.loads(DEFAULTS.read_text(encoding="utf-8"))
    if override is not None:
        extra = json.loads(Path(override).read_text(encoding="utf-8"))
        for section, values in extra.items():
            if section == "provenance":
                continue
            if section not in SECTIONS:
                raise ValueError(f"{override}: unknown section {section!r}")
            known = set(data[section])
            unknown = set(values) - known
            if unknown:
                raise ValueError(f"{override}: unknown {section} keys {sorted(unknown)}")
            data[section].update(values)
    return data


def build(override: Path | None = None) -> tuple[DuplicateDetector, EventClusterer]:
    data = load(override)
    return DuplicateDetector(**data["duplicates"]), EventClusterer(**data["events"])
