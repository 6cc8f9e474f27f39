"""Every request, observed: one JSON access-log line, the metrics, a Server-Timing header.

Outermost ASGI middleware, so requests the guard refuses (401, 413) are logged and counted too.
The route label is the matched route's template (`/stories/{story_id:path}`), the template the
path matches for requests refused before routing, or `unmatched`.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.routing import Match

from khabar.web.metrics import Metrics

access_log = logging.getLogger("khabar.access")


def _route(scope: dict, routes: list[Any], root_path: str = "") -> str:
    """The template of the route that answered; for a request refused before routing (401,
    413) or served by a mount (`/static`), the template its path matches."""
    path = getattr(scope.get("route"), "path", None)
    if path:
        return path
    probe = {**scope, "type": "http", "root_path": root_path}  # as it arrived: a mount moves it
    partial = None  # a route for the path but not the method (405)
    for route in routes:
        match, _ = route.matches(probe)
        if match is Match.FULL:
            return getattr(route, "path", None) or "unmatched"
        if match is Match.PARTIAL and partial is None:
            partial = getattr(route, "path", None)
    return partial or "unmatched"


class Observe:
    def __init__(self, app: Any, metrics: Metrics, routes: list[Any] | None = None):
        self.app = app
        self.metrics = metrics
        self.routes = routes if routes is not None else []  # the app's, read at each request

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        root_path = scope.get("root_path", "")
        status, size = 500, 0

        async def observed_send(message: dict) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
                ms = (time.perf_counter() - t0) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={ms:.2f}".encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            seconds = time.perf_counter() - t0
            route = _route(scope, self.routes, root_path)
            self.metrics.observe(scope["method"], route, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(json.dumps(self._line(scope, route, status, size, seconds)))

    @staticmethod
    def _line(scope: dict, route: str, status: int, size: int, seconds: float) -> dict:
        headers = {k: v for k, v in scope.get("headers", [])}
        client = scope.get("client")
        return {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "client": client[0] if client else None,
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode("latin-1")[:500],
            "route": route,
            "status": status,
            "bytes": size,
            "ms": round(seconds * 1000, 2),
            "user_agent": headers.get(b"user-agent", b"").decode("latin-1")[:200],
        }
