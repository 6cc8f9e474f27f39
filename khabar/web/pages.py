"""The analyst's pages: search, story, events, event, reports, login.

Each page reads what its JSON twin reads, through the same code: khabar.search.Searcher (via
finder), the store's queries, khabar.views for shapes and event names, and the paged queries
of queries.py and catalog.py that the JSON routes use too. A page route answers only a client
that wants HTML (negotiate.py); the same URL gives JSON to everyone else, from service.py.
"""

from __future__ import annotations

import hmac
import re
from collections import defaultdict
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.routing import Match

from embed.index import IndexError_
from khabar.views import event_name, evidence, show_json
from khabar.web import auth, finder, queries, reports, timeline
from khabar.web.negotiate import scope_wants_html
from khabar.web.render import event_url, link, page, story_url

EVENTS_PER_PAGE = 25
STORIES_PER_PAGE = 200
STORIES_IN_LIST = 9  # per event on /events; the event page has them all
SIMILAR_K = 10


class PageRoute(APIRoute):
    """Matches only a request that wants HTML; any other falls through to the JSON route."""

    def matches(self, scope: dict) -> tuple[Match, dict]:
        if scope.get("type") == "http" and not scope_wants_html(scope):
            return Match.NONE, {}
        return super().matches(scope)


def _day_param(name: str, value: str | None) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        msg = f"{value!r} is not a date (YYYY-MM-DD)"
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": msg, "type": "value_error"}]
        ) from None


def _headline_lang(request: Request, hl: str | None, langs: list[str]) -> str | None:
    """The language event names are asked in: ?hl=, else the first of the browser's
    Accept-Language that the home has."""
    if hl:
        return hl
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in langs:
            return tag
    return None


def _named(store: Any, summary: dict[str, Any], hl: str | None, limit: int) -> dict[str, Any]:
    """An event's summary with its name and its first `limit` stories grouped by language
    and outlet, for a list of events."""
    members = queries.event_members(store, summary["id"])
    title, sid, lang = event_name(members, hl)
    return {
        **summary,
        "name": title,
        "name_id": sid,
        "name_lang": lang,
        "groups": _groups(members[:limit]),
        "shown": min(limit, len(members)),
        "members": members,
    }


def _groups(stories: list[dict[str, Any]]) -> list[tuple[str, list[tuple[str, list[dict]]]]]:
    """[(language, [(outlet, stories)])], languages by size, outlets by name."""
    by: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for s in stories:
        by[s["lang"]][s["outlet"] or "-"].append(s)
    ordered = sorted(by.items(), key=lambda kv: (-sum(len(v) for v in kv[1].values()), kv[0]))
    return [(lang, sorted(outlets.items())) for lang, outlets in ordered]


def _points(stories: list[dict[str, Any]]) -> list[timeline.Point]:
    return [
        timeline.Point(
            s["published_at"] or s["ingested_at"],
            copy=bool(s.get("duplicate_of")),
            file_date=s.get("date_source") == "file",
        )
        for s in stories
    ]


def router(state: Any) -> APIRouter:
    """The page routes over `state` (khabar.service.Home)."""
    r = APIRouter(route_class=PageRoute, include_in_schema=False)

    @r.get("/", response_class=HTMLResponse)
    def search_page(
        request: Request,
        q: Annotated[str, Query(max_length=finder.MAX_QUERY)] = "",
        lang: str | None = None,
        outlet: str | None = None,
        since: str | None = None,
        until: str | None = None,
        duplicates: Literal["show", "hide"] = "show",
        k: Annotated[int, Query(ge=1, le=100)] = 20,
        hl: str | None = None,
    ) -> HTMLResponse:
        f = finder.Filters(
            q=q,
            lang=lang or None,
            outlet=(outlet or "").strip() or None,
            since=_day_param("since", since),
            until=_day_param("until", until),
            duplicates=duplicates,
            k=k,
        )
        with state.reading() as store:
            langs = queries.languages(store)
            hl = _headline_lang(request, hl, langs)
            found = finder.find(state.searcher(store), store, f) if q.strip() else None
            recent = []
            if found is None:
                rows, _ = queries.recent_events(store, limit=8)
                recent = [_named(store, e, hl, 0) for e in rows]
            count = store.count()
        params = {
            "q": q,
            "lang": f.lang,
            "outlet": f.outlet,
            "since": f.since,
            "until": f.until,
            "duplicates": None if duplicates == "show" else duplicates,
            "k": None if k == 20 else k,
        }
        return page(
            request,
            "search.html",
            twin=link("/search", **params) if q.strip() else "/health",
            f=f,
            langs=langs,
            found=found,
            recent=recent,
            stories=count,
            hl=hl,
        )

    @r.get("/stories/{story_id:path}", response_class=HTMLResponse)
    def story_page(
        request: Request,
        story_id: Annotated[str, PathParam()],
        hl: str | None = None,
    ) -> HTMLResponse:
        with state.reading() as store:
            story = store.get(story_id)
            if story is None:
                raise HTTPException(404, f"no story with id {story_id!r}")
            copies = state.catalog(store).copies_of(store, story_id)
            shown = show_json(story, copies)
            original = store.get(story["duplicate_of"]) if story["duplicate_of"] else None
            event = None
            if story["event_id"]:
                summary = queries.event_summary(store, story["event_id"])
                if summary is not None:
                    event = _named(store, summary, hl or story["lang"], 0)
            similar, similar_error = [], None
            try:
                hits = state.searcher(store).by_id(story_id, k=SIMILAR_K)
                similar = [finder.result_json(i, h) for i, h in enumerate(hits, 1)]
            except IndexError_ as exc:
                similar_error = str(exc)
        copy_rows = [{**c, "evidence": evidence(c, "duplicate_evidence")} for c in copies]
        return page(
            request,
            "story.html",
            twin=story_url(story_id) + "?format=json",
            s=shown,
            paragraphs=[p for p in story["text"].split("\n") if p.strip()],
            original=original,
            copies=copy_rows,
            event=event,
            similar=similar,
            similar_error=similar_error,
            similar_url=link("/similar", id=story_id, k=SIMILAR_K),
        )

    @r.get("/events", response_class=HTMLResponse)
    def events_page(
        request: Request,
        since: str | None = None,
        before: str | None = None,
        n: Annotated[int, Query(ge=1, le=200)] = EVENTS_PER_PAGE,
        hl: str | None = None,
    ) -> HTMLResponse:
        since = _day_param("since", since)
        cursor = _cursor(before)
        with state.reading() as store:
            hl = _headline_lang(request, hl, queries.languages(store))
            rows, more = queries.recent_events(store, since=since, limit=n, before=cursor)
            events = [_named(store, e, hl, STORIES_IN_LIST) for e in rows]
        older = (
            link(
                "/events",
                since=since,
                n=None if n == EVENTS_PER_PAGE else n,
                hl=hl,
                before=f"{events[-1]['last']}|{events[-1]['id']}",
            )
            if more and events
            else None
        )
        lines = [
            timeline.Row(
                e["name"],
                event_url(e["id"]),
                e["name_lang"],
                f"{e['stories']}",
                _points(e["members"]),
            )
            for e in events
        ]
        return page(
            request,
            "events.html",
            twin=link("/events", since=since, limit=n, before=before, format="json"),
            events=events,
            lines=lines,
            older=older,
            newest=link("/events", since=since, hl=hl) if cursor else None,
            since=since,
            hl=hl,
        )

    @r.get("/events/{event_id}", response_class=HTMLResponse)
    def event_page(
        request: Request,
        event_id: str,
        page_no: Annotated[int, Query(alias="page", ge=1)] = 1,
        hl: str | None = None,
    ) -> HTMLResponse:
        with state.reading() as store:
            summary = queries.event_summary(store, event_id)
            if summary is None:
                raise HTTPException(404, f"no event {event_id!r}")
            hl = _headline_lang(request, hl, queries.languages(store))
            event = _named(store, summary, hl, 0)
        members = event["members"]
        pages = max(1, -(-len(members) // STORIES_PER_PAGE))
        if page_no > pages:
            raise HTTPException(404, f"event {event_id!r} has {pages} page(s) of stories")
        shown = members[(page_no - 1) * STORIES_PER_PAGE : page_no * STORIES_PER_PAGE]
        by_lang: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in members:
            by_lang[s["lang"]].append(s)
        lines = [
            timeline.Row(lang, None, None, f"{len(v)}", _points(v))
            for lang, v in sorted(by_lang.items(), key=lambda kv: -len(kv[1]))
        ]
        titles = {s["id"]: s["title"] for s in members}
        return page(
            request,
            "event.html",
            twin=event_url(event_id) + "?format=json",
            e=event,
            groups=_groups(shown),
            lines=lines,
            titles=titles,
            page_no=page_no,
            pages=pages,
            hl=hl,
            truncated=summary["stories"] > len(members),
        )

    @r.get("/reports", response_class=HTMLResponse)
    def reports_page(request: Request) -> HTMLResponse:
        with state.reading() as store:
            run = queries.last_run(store)
        return page(
            request,
            "reports.html",
            twin="/reports?format=json",
            runs=reports.listing(state.home),
            last=reports.run_json(run),
        )

    @r.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> Response:
        if not request.app.state.web.login:
            return RedirectResponse(auth.safe_next(next), status_code=303)
        return page(request, "login.html", next=auth.safe_next(next), failed=False)

    return r


def _cursor(before: str | None) -> tuple[str, str] | None:
    if not before:
        return None
    last, sep, event_id = before.rpartition("|")
    if not sep or not last or not event_id:
        raise RequestValidationError(
            [{"loc": ("query", "before"), "msg": "expected LAST|EVENT_ID", "type": "value_error"}]
        )
    return last, event_id


def login_routes(token: bytes | None) -> APIRouter:
    """POST /login (a plain form: works without JavaScript) and POST /logout."""
    r = APIRouter(include_in_schema=False)

    @r.post("/login")
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        target = auth.safe_next((form.get("next") or ["/"])[0])
        if token is None:
            return RedirectResponse(target, status_code=303)
        given = (form.get("token") or [""])[0].encode("utf-8")
        if not hmac.compare_digest(given, token):
            return page(request, "login.html", status=401, next=target, failed=True)
        response = RedirectResponse(target, status_code=303)
        response.headers["set-cookie"] = auth.login_cookie(token, request.url.scheme == "https")
        return response

    @r.post("/logout")
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.headers["set-cookie"] = auth.logout_cookie()
        return response

    return r


REPORT_NAME = re.compile(r"^(latest|\d{4}-\d{2}-\d{2}T\d{6}Z)\.(html|json)$")


def report_file(home: Any, name: str) -> FileResponse:
    """One report file of HOME/reports, by its exact name (nothing else is reachable)."""
    m = REPORT_NAME.match(name)
    path = home / "reports" / name
    if m is None or not path.is_file():
        raise HTTPException(404, f"no report {name!r}")
    if m.group(2) == "json":
        return FileResponse(path, media_type="application/json")
    return FileResponse(
        path,
        media_type="text/html; charset=utf-8",
        headers={"content-security-policy": reports.REPORT_CSP},
    )
