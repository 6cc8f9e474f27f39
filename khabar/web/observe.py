"""Every request, observed: one JSON access-log line, the metrics, a Server-Timing header.

Outermost ASGI middleware, so requests the guard refuses (401, 413) are logged and counted too.
The route label is the matched route's template (`/stories/{story_id:path}`), or `unmatched`.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from khabar.web.metrics import Metrics

access_log = logging.getLogger("khabar.access")


def _route(scope: dict) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path or "unmatched"


class Observe:
    def __init__(self, app: Any, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
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
            route = _route(scope)
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
