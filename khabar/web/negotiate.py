"""HTML or JSON for one URL: a page and its JSON twin share the path.

A browser asks for text/html and gets the page; an API client (`Accept: */*`, or
`application/json`) gets the JSON the API always gave. `?format=json` or `?format=html` in
the query overrides the header (a link from a page to its twin cannot set a header).
"""

from __future__ import annotations

from urllib.parse import parse_qs


def _quality(accept: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if kind:
            out[kind.lower()] = max(q, out.get(kind.lower(), 0.0))
    return out


def format_param(query_string: bytes | str) -> str | None:
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    values = parse_qs(query_string).get("format")
    return values[-1].lower() if values else None


def wants_html(accept: str | None, query_string: bytes | str = b"") -> bool:
    """True when the client prefers a page: text/html named, and ranked at least as high as
    application/json (a bare */* means an API client)."""
    fmt = format_param(query_string)
    if fmt in ("json", "html"):
        return fmt == "html"
    q = _quality(accept or "")
    html = max(q.get("text/html", 0.0), q.get("application/xhtml+xml", 0.0))
    return html > 0 and html >= q.get("application/json", 0.0)


def scope_wants_html(scope: dict) -> bool:
    accept = next((v for k, v in scope.get("headers", []) if k == b"accept"), b"")
    return wants_html(accept.decode("latin-1"), scope.get("query_string", b""))
