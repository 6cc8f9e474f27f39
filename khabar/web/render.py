"""Jinja2 for the pages: one environment, the filters the templates share, the response.

Pages carry no script and load nothing from elsewhere; their Content-Security-Policy says so
to the browser (a stray CDN link would be blocked, and the browser test would see it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from khabar import __version__
from khabar.views import is_rtl, text_dir
from khabar.web import calendars, timeline

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def link(path: str, **params: Any) -> str:
    """`path?a=1&b=2`, leaving out parameters that are None or empty."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urlencode(kept) if kept else "")


def story_url(story_id: str) -> str:
    return "/stories/" + quote(story_id, safe="")


def event_url(event_id: str) -> str:
    return "/events/" + quote(event_id, safe="")


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _timeline(rows: list[timeline.Row], caption: str = "") -> Markup:
    return Markup(timeline.render(rows, caption))  # timeline.render escapes what it shows


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=calendars.gregorian,
        local_dates=calendars.local_dates,
        score=_score,
        num=_num,
        rtl=is_rtl,
        textdir=text_dir,
        unquote=unquote_plus,
    )
    env.globals.update(
        link=link,
        story_url=story_url,
        event_url=event_url,
        timeline=_timeline,
        version=__version__,
        file_date_note=calendars.FILE_DATE_NOTE,
    )
    return env


ENV = _environment()


def page(
    request: Request, template: str, status: int = 200, twin: str | None = None, **context: Any
) -> HTMLResponse:
    """Render a page; `twin` is the URL of its JSON (shown in the footer)."""
    web = request.app.state.web
    body = ENV.get_template(template).render(
        request=request, twin=twin, login=web.login, path=request.url.path, **context
    )
    return HTMLResponse(
        body,
        status_code=status,
        headers={"content-security-policy": PAGE_CSP, "vary": "Accept"},
    )
