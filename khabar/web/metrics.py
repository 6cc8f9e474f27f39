"""`/metrics` in Prometheus' text format: the server's requests, and the home it serves.

Request counters and latency histograms are kept in memory per method, route template (never
the raw path: ids would make a series each) and status. The home's figures (stories, events,
index generation, the last nightly run and its counts) are read from the database at scrape
time, in the same read transaction as any request.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from khabar.web.queries import last_run

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: Any) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


def _num(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class Metrics:
    """What the server has answered since it started. Thread-safe."""

    def __init__(self) -> None:
        self.started = time.time()
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = {}
        self._sum: dict[str, float] = defaultdict(float)
        self._errors: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, status)] += 1
            counts = self._buckets.setdefault(route, [0] * (len(BUCKETS) + 1))
            for i, edge in enumerate(BUCKETS):
                if seconds <= edge:
                    counts[i] += 1
            counts[-1] += 1
            self._sum[route] += seconds
            if status >= 400:
                self._errors[(route, "server" if status >= 500 else "client")] += 1

    def render(self, home: dict[str, Any]) -> str:
        """The exposition text; `home` holds the gauges read from the database."""
        out: list[str] = []

        def family(name: str, kind: str, help_: str) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")

        with self._lock:
            requests = sorted(self._requests.items())
            buckets = {k: list(v) for k, v in sorted(self._buckets.items())}
            sums = dict(self._sum)
            errors = sorted(self._errors.items())
        family("khabar_http_requests_total", "counter", "HTTP requests answered.")
        for (method, route, status), n in requests:
            out.append(
                f"khabar_http_requests_total{_labels(method=method, route=route, status=status)}"
                f" {n}"
            )
        family(
            "khabar_http_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to its last byte, by route.",
        )
        for route, counts in buckets.items():
            for edge, n in zip((*BUCKETS, "+Inf"), counts, strict=True):
                le = edge if isinstance(edge, str) else repr(edge)
                name = "khabar_http_request_duration_seconds_bucket"
                out.append(f"{name}{_labels(route=route, le=le)} {n}")
            base = "khabar_http_request_duration_seconds"
            out.append(f"{base}_sum{_labels(route=route)} {sums[route]!r}")
            out.append(f"{base}_count{_labels(route=route)} {counts[-1]}")
        family(
            "khabar_http_errors_total",
            "counter",
            "Requests answered with 4xx (class=client) or 5xx (class=server).",
        )
        for (route, cls), n in errors:
            out.append(f"khabar_http_errors_total{_labels(route=route, **{'class': cls})} {n}")
        family("khabar_start_time_seconds", "gauge", "When this server started (Unix time).")
        out.append(f"khabar_start_time_seconds {self.started!r}")
        for name, kind, help_, key in GAUGES:
            value = home.get(key)
            if value is None:
                continue
            family(name, kind, help_)
            if isinstance(value, dict):
                for label, v in sorted(value.items()):
                    out.append(f"{name}{_labels(kind=label)} {_num(v)}")
            else:
                out.append(f"{name} {_num(value)}")
        return "\n".join(out) + "\n"


GAUGES = [
    ("khabar_stories", "gauge", "Stories in the home.", "stories"),
    ("khabar_events", "gauge", "Event ids given out in the home.", "events"),
    ("khabar_index_generation", "gauge", "Index generation the database is at.", "generation"),
    (
        "khabar_index_serving_generation",
        "gauge",
        "Index generation this server answers from.",
        "serving_generation",
    ),
    (
        "khabar_last_nightly_timestamp_seconds",
        "gauge",
        "When the last nightly run finished (Unix time).",
        "nightly_finished",
    ),
    (
        "khabar_last_nightly_duration_seconds",
        "gauge",
        "How long the last nightly run took.",
        "nightly_duration",
    ),
    (
        "khabar_last_nightly_stories",
        "gauge",
        "Stories of the last nightly run, by kind (read, new, updated, unchanged, rejected, "
        "embedded, clustered).",
        "nightly_stories",
    ),
    (
        "khabar_last_nightly_duplicates",
        "gauge",
        "Duplicates the last nightly run flagged, by kind.",
        "nightly_duplicates",
    ),
    (
        "khabar_last_nightly_events",
        "gauge",
        "Events the last nightly run opened (kind=new) or added to (kind=joined).",
        "nightly_events",
    ),
]


def home_figures(store: Any, serving_generation: int | None) -> dict[str, Any]:
    """The gauges about the home, read in the caller's read transaction."""
    out: dict[str, Any] = {
        "stories": store.count(),
        "events": store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0],
        "generation": int(store.get_meta("index_generation") or 0),
        "serving_generation": serving_generation,
    }
    run = last_run(store)
    if run is not None:
        summary = json.loads(run["summary"])
        started = datetime.fromisoformat(run["started_at"]).timestamp()
        finished = datetime.fromisoformat(run["finished_at"]).timestamp()
        clustering = summary.get("clustering") or {}
        out["nightly_finished"] = finished
        out["nightly_duration"] = finished - started
        out["nightly_stories"] = {
            k: summary.get(k, 0)
            for k in ("read", "new", "updated", "unchanged", "rejected", "embedded")
        } | {"clustered": clustering.get("stories", 0)}
        out["nightly_duplicates"] = dict(clustering.get("duplicates") or {})
        out["nightly_events"] = {
            "new": clustering.get("new_events", 0),
            "joined": clustering.get("joined_events", 0),
        }
    return out
