"""The nightly reports as the pages list them: HOME/reports/<time>.html and .json files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# A report is one self-contained file with inline CSS and SVG, and no script.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; "
    "base-uri 'none'"
)
MAX_LISTED = 400


def listing(home: Path, limit: int = MAX_LISTED) -> list[dict[str, Any]]:
    """The reports, newest first: name (the run's UTC time), when, and the files there are."""
    folder = Path(home) / "reports"
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*T*Z.html"), reverse=True)[:limit]:
        stamp = path.stem
        try:
            when = datetime.strptime(stamp, "%Y-%m-%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            continue
        out.append(
            {
                "name": stamp,
                "generated_at": when.isoformat(),
                "html": f"/reports/{stamp}.html",
                "json": f"/reports/{stamp}.json" if path.with_suffix(".json").is_file() else None,
                "bytes": path.stat().st_size,
            }
        )
    return out


def run_json(run: dict[str, Any] | None) -> dict[str, Any] | None:
    """The runs row of the last nightly job, its summary parsed (without the rejections)."""
    if run is None:
        return None
    summary = json.loads(run["summary"])
    summary.pop("rejections", None)
    clustering = summary.get("clustering") or {}
    clustering.pop("events", None)  # their ids: the report lists them
    return {
        "id": run["id"],
        "started_at": run["started_at"],
        "finished_at": run["finished_at"],
        "summary": summary,
    }
