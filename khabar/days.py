"""A story's time as the decisions see it: days since 1970, from its publication date."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np

_EPOCH = date(1970, 1, 1).toordinal()


def story_day(story: dict[str, Any]) -> float:
    """Publication time in days since 1970 (ingest time when the date is unknown)."""
    value = story.get("published_at") or story["ingested_at"]
    if len(value) == 10:
        d = date.fromisoformat(value)
        return float(d.toordinal() - _EPOCH)
    dt = datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    return (dt - datetime(1970, 1, 1)).total_seconds() / 86400.0


def day_number(story: dict[str, Any]) -> int:
    """The calendar day (UTC) a story belongs to: the unit of a fold and of the means."""
    return int(np.floor(story_day(story)))


def iso_day(day: float) -> str:
    return date.fromordinal(_EPOCH + int(np.floor(day))).isoformat()
