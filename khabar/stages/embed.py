"""Stage (b): model inputs to vectors, for the keys that have none yet.

A vector is a function of its text alone (embed/bert.py pads each text to its own
bucket), so any worker may embed any batch and the home gets the same bits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def missing(stories: Iterable[dict[str, Any]], known: set[str]) -> dict[str, str]:
    """{embed key: model input} of the stories whose key is not in `known`, first seen
    first."""
    need: dict[str, str] = {}
    for s in stories:
        if s["embed_key"] not in known:
            need.setdefault(s["embed_key"], s["_model_input"])
    return need
