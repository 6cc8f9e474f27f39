"""The HTTP API behind `khabar serve`: the CLI's answers as JSON, for other programs.

Endpoints (OpenAPI docs at /docs, served offline): GET /health, GET /similar?id=, POST
/similar (free text), GET /search (the search page's twin), GET /stories/{id}, GET /events,
GET /events/{id}, GET /reports, GET /metrics. Answers have the shapes of the CLI's --json
(the helpers are in khabar.views); searching is khabar.search.Searcher over
khabar.store.Store, nothing here re-implements either. The analyst's pages (khabar.web) are
mounted on the same URLs: a browser asking for HTML gets the page, anyone else this JSON.

Reading while the nightly job writes: every request reads inside one SQLite read transaction
(WAL gives it the last committed state), on a connection of its own thread. The FAISS index is
held in memory and shared (searches only read it); each request that needs it compares the
database's `index_generation` with the held index's and loads the new file when it changed.
Between the job's commit and its index save, the file is still the old one: the server keeps
answering from the index it holds and tries again on a later request.

Errors are JSON, `{"error": "...", "detail": ...}`: 4xx for the client's mistakes, 503 when the
home itself is unusable (with the message that says the fix), 500 without a traceback for
anything unexpected (logged); a browser gets the same as an HTML page. Request bodies are
capped at MAX_BODY bytes, both by Content-Length and while they stream in; a refused body is
read and discarded (up to DRAIN_MAX bytes, DRAIN_SECONDS) after the answer is sent, so that a
client that writes its whole body before reading (urllib, requests) gets the 413 instead of
a connection reset.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from embed.index import IndexError_, VectorIndex
from embed.model import ModelError
from khabar import __version__, vectors
from khabar.search import MAX_K, NotFound, Searcher
from khabar.sources import normalise_date
from khabar.store import Store, StoreError
from khabar.views import hit_json, show_json, story_json
from khabar.web import auth, finder, metrics, pages, queries, reports
from khabar.web.catalog import Catalog, Catalogs, CatalogStore
from khabar.web.docs import add_docs
from khabar.web.negotiate import wants_html
from khabar.web.observe import Observe
from khabar.web.render import STATIC

log = logging.getLogger("khabar.service")

MAX_BODY = 1_000_000  # bytes of request body (the README's limit on one story's text)
DRAIN_MAX = 64 * MAX_BODY  # bytes of a refused body read and discarded before closing
DRAIN_SECONDS = 30.0
TOKEN_ENV = "KHABAR_TOKEN"
OPEN_PATHS = frozenset(
    {"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc", "/login", "/logout"}
)
OPEN_PREFIXES = ("/static/",)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


# --- shared state: the home, the held index, the lazily loaded model ------------------------


class _SerialEncoder:
    """The process's one encoder, run on one thread of its own: calls are serialised (a fast
    tokenizer is not re-entrant, and two model passes at once on a small CPU only slow each
    other down), and always from the same OS thread. Torch called from whichever worker
    thread served the request spun up its thread pool anew: measured on 100,000 stories, a
    free-text search took p50 135 ms and p95 1.07 s that way, against 15-30 ms for the model
    pass itself."""

    def __init__(self, encoder: Any, lock: threading.Lock):
        self._encoder = encoder
        self._lock = lock
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="khabar-model")

    @property
    def info(self) -> Any:
        return self._encoder.info

    def encode(self, texts: list[str], progress: Any = None) -> Any:
        with self._lock:
            return self._thread.submit(self._encoder.encode, texts, progress=progress).result()


class Home:
    """What one server process knows about its home. Thread-safe."""

    def __init__(self, home: Path, model_spec: str | None, model_name: str):
        self.home = Path(home)
        self.model_spec = model_spec
        self.model_name = model_name
        self._local = threading.local()
        self._index: VectorIndex | None = None
        self._index_lock = threading.Lock()
        self._failed_load: tuple[int, int, int] | None = None  # (generation, mtime, size)
        self._encoder: _SerialEncoder | None = None
        self._model_lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._catalogs = Catalogs()

    @contextmanager
    def reading(self) -> Iterator[Store]:
        """This thread's connection, inside one read transaction: a consistent snapshot of
        the last committed state for the whole request."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store(self.home, create=False)
            self._local.store = store
        store.db.execute("BEGIN")
        try:
            yield store
        finally:
            store.db.execute("ROLLBACK")  # nothing was written: just end the snapshot

    def generation(self, store: Store) -> int:
        return vectors.generation(store)

    def index(self, store: Store) -> VectorIndex:
        """The index for this snapshot: the held one while the database's generation is the
        same (or older, for a request that began before a reload), else the new file."""
        wanted = self.generation(store)
        held = self._index
        if held is not None and held.generation >= wanted:
            return held
        with self._index_lock:
            held = self._index
            if held is not None and held.generation >= wanted:
                return held
            stamp = self._file_stamp(wanted)
            if held is not None and stamp == self._failed_load:
                return held  # that file was already found behind; don't re-read it each time
            try:
                index = vectors.load(store, self.home)
            except IndexError_ as exc:
                if held is None:
                    raise
                self._failed_load = stamp
                log.warning(
                    "serving index generation %d: generation %d is not loadable yet (%s)",
                    held.generation,
                    wanted,
                    exc,
                )
                return held
            self._index, self._failed_load = index, None
            log.info("loaded index generation %d (%d vectors)", index.generation, len(index))
            return index

    def held_generation(self) -> int | None:
        return None if self._index is None else self._index.generation

    def _file_stamp(self, generation: int) -> tuple[int, int, int]:
        from embed.index import INDEX_FILE

        try:
            st = (self.home / INDEX_FILE).stat()
        except OSError:
            return (generation, -1, -1)
        return (generation, st.st_mtime_ns, st.st_size)

    def encoder(self) -> _SerialEncoder:
        """The embedding model, loaded on first use (only free-text search needs it)."""
        if self._encoder is None:
            with self._model_lock:
                if self._encoder is None:
                    from embed import model
                    from embed.encoder import Encoder

                    m, info = model.runtime(self.model_spec)
                    self._encoder = _SerialEncoder(Encoder(m, info), self._encode_lock)
                    log.info("loaded model %s from %s", info.name, info.path)
        return self._encoder

    def catalog(self, store: Store) -> Catalog:
        """Copies and languages of this snapshot's committed state (khabar.web.catalog)."""
        return self._catalogs.of(store)

    def searcher(self, store: Store) -> Searcher:
        index = self.index(store)
        return Searcher(CatalogStore(store, self.catalog(store)), self.encoder, index=index)


# --- request bodies -------------------------------------------------------------------------

K = Annotated[int, Field(ge=1, le=MAX_K, description=f"Number of results, 1..{MAX_K}.")]
Lang = Annotated[
    str | None,
    Field(min_length=1, max_length=16, description="Only stories in this language (fa, ar, ...)."),
]


class TextQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(strict=True, description="Any text, in any language.")]
    k: Annotated[int, Field(strict=True, ge=1, le=MAX_K, description=f"1..{MAX_K}")] = 10
    lang: Lang = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty or only whitespace")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text is not valid Unicode (a lone surrogate escape)") from None
        return value


class ErrorBody(BaseModel):
    error: str
    detail: Any = None


# --- the application ------------------------------------------------------------------------


def _error_name(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _error(status: int, detail: Any, error: str | None = None, headers=None) -> JSONResponse:
    body = {"error": error or _error_name(status), "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers)


def _answer(
    request: Request, status: int, detail: Any, error: str | None = None, headers=None
) -> Response:
    """An error as JSON, or as a page for a browser that asked for one."""
    if wants_html(request.headers.get("accept"), request.url.query):
        from khabar.web.render import page

        response = page(
            request,
            "error.html",
            status=status,
            status_code=status,
            error=error or _error_name(status),
            detail=detail,
        )
        for k, v in (headers or {}).items():
            response.headers[k] = v
        return response
    return _error(status, detail, error=error, headers=headers)


class WebConfig:
    """What the pages need to know about how the server runs."""

    def __init__(self, login: bool):
        self.login = login  # a token is set: pages need the login (else read-only, no login)


def _since_param(since: str | None) -> str | None:
    if since is None:
        return None
    try:
        return normalise_date(since)
    except ValueError:
        msg = f"{since!r} is not an ISO 8601 date (YYYY-MM-DD) or datetime"
        raise RequestValidationError(
            [{"loc": ("query", "since"), "msg": msg, "type": "value_error"}]
        ) from None


def create_app(
    home: Path,
    model_spec: str | None = None,
    model_name: str = "e5-small",
    token: str | None = None,
    max_body: int = MAX_BODY,
    loopback_hosts_only: bool = False,
) -> FastAPI:
    """The API and the pages over `home`. `loopback_hosts_only`: refuse requests whose Host
    is not a loopback name (what `serve` sets when it runs without a token)."""
    state = Home(home, model_spec, model_name)
    counters = metrics.Metrics()
    errors = {
        404: {"model": ErrorBody, "description": "No such story or event."},
        422: {"model": ErrorBody, "description": "Invalid parameters."},
    }
    app = FastAPI(
        title="khabar",
        version=__version__,
        description=(
            "The same news across outlets and languages. Answers have the shapes of the "
            'command line\'s `--json`. Errors are `{"error": ..., "detail": ...}`. With '
            f"`{TOKEN_ENV}` set, every route but /health and the docs needs "
            "`Authorization: Bearer <token>` (browsers log in at /login). The analyst's pages "
            "share these URLs: a client that asks for text/html gets the page; `?format=json` "
            "forces JSON."
        ),
        docs_url=None,
        redoc_url=None,
        responses={
            401: {"model": ErrorBody, "description": "Missing or wrong bearer token."},
            503: {"model": ErrorBody, "description": "The home is unusable (see detail)."},
        },
    )
    app.state.home = state
    app.state.web = WebConfig(login=bool(token))
    app.state.metrics = counters
    app.add_middleware(
        _Guard, token=token, max_body=max_body, loopback_hosts_only=loopback_hosts_only
    )
    # outermost: sees what the guard refuses; labels by the app's routes (the list, not a copy)
    app.add_middleware(Observe, metrics=counters, routes=app.router.routes)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_docs(app)
    app.include_router(pages.router(state))  # first: they match only requests for HTML
    app.include_router(pages.login_routes(token.encode("utf-8") if token else None))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _answer(request, exc.status_code, exc.detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        if any(p["type"] == "json_invalid" for p in problems):
            return _answer(request, 400, problems, error="malformed_json")
        return _answer(request, 422, problems, error="invalid_request")

    @app.exception_handler(StoreError)
    @app.exception_handler(IndexError_)
    @app.exception_handler(ModelError)
    async def unusable(request: Request, exc: Exception) -> Response:
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return _answer(request, 503, str(exc))

    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        """Liveness and what is served: stories, the committed index generation, the model.

        `status` is `ok`, `empty` (no stories yet) or `stale` (the database is at a newer
        generation than the index file can give; `detail` says why)."""
        with state.reading() as store:
            count = store.count()
            generation = state.generation(store)
            status, detail = "ok", None
            if count == 0:
                status = "empty"
            else:
                try:
                    if state.index(store).generation < generation:
                        status, detail = "stale", "the index file is behind the database"
                except IndexError_ as exc:
                    status, detail = "stale", str(exc)
            out = {
                "status": status,
                "home": str(state.home),
                "stories": count,
                "index_generation": generation,
                "serving_generation": state.held_generation(),
                "model": store.get_meta("model") or state.model_name,
            }
            if detail:
                out["detail"] = detail
            return out

    @app.get("/similar", tags=["search"], responses=errors)
    def similar_by_id(
        story_id: Annotated[
            str, Query(alias="id", min_length=1, description="A stored story's id.")
        ],
        k: Annotated[int, Query(ge=1, le=MAX_K, description=f"1..{MAX_K}")] = 10,
        lang: Annotated[str | None, Query(min_length=1, max_length=16)] = None,
    ) -> dict[str, Any]:
        """Stories most similar to a stored story, across languages (`khabar similar --id`)."""
        with state.reading() as store:
            try:
                hits = state.searcher(store).by_id(story_id, k=k, lang=lang)
            except NotFound:
                raise HTTPException(404, f"no story with id {story_id!r}") from None
            return {
                "query": {"id": story_id},
                "results": [hit_json(i, h.score, h.story) for i, h in enumerate(hits, 1)],
            }

    @app.post("/similar", tags=["search"], responses=errors)
    def similar_by_text(query: TextQuery) -> dict[str, Any]:
        """Stories most similar to a free text (`khabar similar TEXT`). The first call loads
        the embedding model (a few seconds)."""
        with state.reading() as store:
            qlang, hits = state.searcher(store).by_text(query.text, k=query.k, lang=query.lang)
            return {
                "query": {"text": query.text, "lang": qlang},
                "results": [hit_json(i, h.score, h.story) for i, h in enumerate(hits, 1)],
            }

    @app.get("/", tags=["service"])
    def index() -> dict[str, Any]:
        """What is here: a browser gets the search page at this URL, a program this map."""
        return {
            "service": "khabar",
            "version": __version__,
            "pages": ["/", "/stories/{id}", "/events", "/events/{id}", "/reports"],
            "json": "the same URLs with Accept: application/json or ?format=json",
            "api": ["/search", "/similar", "/health", "/metrics", "/reports/{name}"],
            "docs": ["/docs", "/redoc", "/openapi.json"],
        }

    @app.get("/search", tags=["search"], responses=errors)
    def search(
        q: Annotated[
            str,
            Query(
                min_length=1,
                max_length=finder.MAX_QUERY,
                description="Free text in any language, or a stored story's id.",
            ),
        ],
        lang: Annotated[str | None, Query(min_length=1, max_length=16)] = None,
        outlet: Annotated[str | None, Query(description="Only this outlet.")] = None,
        since: Annotated[str | None, Query(description="Published on or after (YYYY-MM-DD).")] = (
            None
        ),
        until: Annotated[str | None, Query(description="Published on or before.")] = None,
        duplicates: Annotated[
            str, Query(pattern="^(show|hide)$", description="`hide` leaves out copies.")
        ] = "show",
        k: Annotated[int, Query(ge=1, le=MAX_K, description=f"1..{MAX_K}")] = 20,
    ) -> dict[str, Any]:
        """The search page's answer (`/`): `similar` by id or text, then the filters.

        Outlet, dates and `duplicates=hide` filter the nearest stories (at least 200):
        `considered` says how many were looked at."""
        f = finder.Filters(
            q=q,
            lang=lang,
            outlet=outlet or None,
            since=pages._day_param("since", since),
            until=pages._day_param("until", until),
            duplicates=duplicates,
            k=k,
        )
        with state.reading() as store:
            return finder.find(state.searcher(store), store, f)

    @app.get("/stories/{story_id:path}", tags=["stories"], responses=errors)
    def story(story_id: Annotated[str, PathParam(description="A story id.")]) -> dict[str, Any]:
        """One stored story with its fields (`khabar show --json`)."""
        with state.reading() as store:
            found = store.get(story_id)
            copies = state.catalog(store).copies_of(store, story_id) if found else []
        if found is None:
            raise HTTPException(404, f"no story with id {story_id!r}")
        return show_json(found, copies)

    @app.get("/events", tags=["events"], responses=errors)
    def events(
        since: Annotated[
            str | None, Query(description="Only events with a story on or after this date.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_K, description="At most this many.")] = 50,
        before: Annotated[
            str | None,
            Query(description="`LAST|ID` of the previous page's last event: the next page."),
        ] = None,
    ) -> list[dict[str, Any]]:
        """Events, newest first, each with its stories (`khabar events --json`, as a list)."""
        since = _since_param(since)
        cursor = pages._cursor(before)
        with state.reading() as store:
            rows, _ = queries.recent_events(store, since=since, limit=limit, before=cursor)
            for r in rows:
                r["stories_list"] = [story_json(s) for s in store.event_stories(r["id"])]
        return rows

    @app.get("/events/{event_id}", tags=["events"], responses=errors)
    def event(event_id: str) -> dict[str, Any]:
        """One event with its stories (`khabar events --id ID --json`)."""
        with state.reading() as store:
            stories = store.event_stories(event_id)
        if not stories:
            raise HTTPException(404, f"no event {event_id!r}")
        return {"id": event_id, "stories": [story_json(s) for s in stories]}

    @app.get("/reports", tags=["reports"])
    def report_list() -> dict[str, Any]:
        """The nightly reports (newest first, with links to their HTML and JSON files) and
        the last nightly run's summary."""
        with state.reading() as store:
            run = queries.last_run(store)
        return {"last_run": reports.run_json(run), "reports": reports.listing(state.home)}

    @app.get("/reports/{name}", tags=["reports"], responses=errors)
    def report(name: str) -> Response:
        """One report file: `latest.html`, `latest.json`, or `<time>.html` / `.json`."""
        return pages.report_file(state.home, name)

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse)
    def metrics_text() -> PlainTextResponse:
        """Prometheus text format: requests, latencies and errors by route; stories, events,
        index generation; the last nightly run, its time and its counts."""
        with state.reading() as store:
            home_now = metrics.home_figures(store, state.held_generation())
        return PlainTextResponse(counters.render(home_now), media_type=metrics.CONTENT_TYPE)

    return app


# --- the guard: bearer token, body cap, last-resort 500 -------------------------------------


class _Guard:
    """Pure ASGI middleware in front of the routes.

    - `loopback_hosts_only` (no token, loopback bind): a Host header that is not a loopback
      name gets 403, so that a web page elsewhere cannot reach this login-free server through
      a DNS name that points at 127.0.0.1.
    - With a token, every path but OPEN_PATHS and /static/ needs `Authorization: Bearer
      <token>` or the login's session cookie: 401, or for a browser asking for a page a
      redirect to /login.
    - The body is read here, at most `max_body` bytes: a larger Content-Length is refused
      before reading anything, and a streamed (chunked) body is refused as soon as it passes
      the cap (413). The app then gets the buffered body.
    - Every refusal of a request that has a body is answered first, then the rest of the
      body is read and dropped (bounded), then the connection is closed: a client that
      sends its whole body before reading its answer gets the answer, not a reset.
    - Anything unexpected is logged with its traceback and answered with a JSON 500.
    """

    def __init__(
        self, app: Any, token: str | None, max_body: int, loopback_hosts_only: bool = False
    ):
        self.app = app
        self.token = token.encode("utf-8") if token else None
        self.max_body = max_body
        self.loopback_hosts_only = loopback_hosts_only

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        refuse = _Refusal(headers, receive, send)
        if self.loopback_hosts_only and not _loopback_host(headers.get(b"host", b"")):
            detail = "this server runs without a token and answers loopback host names only"
            await refuse(403, {"error": "forbidden", "detail": detail})
            return
        path = scope["path"]
        open_path = path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
        if self.token and not open_path and not auth.authorized(headers, self.token):
            accept = headers.get(b"accept", b"").decode("latin-1")
            if scope["method"] in ("GET", "HEAD") and wants_html(
                accept, scope.get("query_string", b"")
            ):
                here = path + ("?" + scope["query_string"].decode("latin-1"))
                target = "/login?" + urlencode({"next": here.rstrip("?")})
                await refuse(303, None, [(b"location", target.encode("latin-1"))])
                return
            await refuse(
                401,
                {"error": "unauthorized", "detail": "missing or wrong bearer token"},
                [(b"www-authenticate", b"Bearer")],
            )
            return
        length = headers.get(b"content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > self.max_body):
            await refuse(413, self._too_large())
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                refuse.received = len(body)
                refuse.ended = not message.get("more_body", False)
                await refuse(413, self._too_large())
                return
            more = message.get("more_body", False)

        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        started = False

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, replay, tracking_send)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:
                raise
            await _send_json(
                send, 500, {"error": "internal_server_error", "detail": "see the server log"}
            )

    def _too_large(self) -> dict:
        return {"error": "payload_too_large", "detail": f"request body over {self.max_body} bytes"}


def _loopback_host(host: bytes) -> bool:
    name = host.decode("latin-1").strip().lower()
    if name.startswith("["):
        name = name[: name.find("]") + 1]
    elif ":" in name:
        name = name.rsplit(":", 1)[0]
    return name in LOOPBACK_NAMES or is_loopback(name)


class _Refusal:
    """Answer a request the guard refuses, then drain what is left of its body."""

    def __init__(self, headers: dict[bytes, bytes], receive: Any, send: Any):
        self.headers = headers
        self.receive = receive
        self.send = send
        self.received = 0
        self.ended = False  # the whole body has been read already

    def _has_body(self) -> bool:
        length = self.headers.get(b"content-length", b"0").strip()
        return b"transfer-encoding" in self.headers or not length.isdigit() or int(length) > 0

    def _drainable(self) -> bool:
        """Worth reading: not a client waiting for `100 Continue` before it sends the body
        (it will not send it), and not a declared length past DRAIN_MAX."""
        if self.headers.get(b"expect", b"").lower() == b"100-continue":
            return False
        length = self.headers.get(b"content-length", b"").strip()
        return not length.isdigit() or int(length) <= DRAIN_MAX

    async def __call__(self, status: int, body: dict | None, extra: list | None = None) -> None:
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = [(b"content-length", str(len(data)).encode()), *(extra or [])]
        if body is not None:
            headers.insert(0, (b"content-type", b"application/json"))
        if not self._has_body():
            await self.send({"type": "http.response.start", "status": status, "headers": headers})
            await self.send({"type": "http.response.body", "body": data})
            return
        headers.append((b"connection", b"close"))
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        if self.ended or not self._drainable():
            await self.send({"type": "http.response.body", "body": data})
            return
        await self.send({"type": "http.response.body", "body": data, "more_body": True})
        try:
            await asyncio.wait_for(self._drain(), DRAIN_SECONDS)
        except TimeoutError:
            log.warning("gave up draining a refused request body after %s s", DRAIN_SECONDS)
        await self.send({"type": "http.response.body", "body": b""})

    async def _drain(self) -> None:
        while self.received <= DRAIN_MAX:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


async def _send_json(send: Any, status: int, body: dict, headers: list | None = None) -> None:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


# --- running it -----------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServeError(RuntimeError):
    """`khabar serve` cannot start as asked; the message says what to do."""


def serve(home: Path, host: str, port: int, model_spec: str | None, model_name: str) -> None:
    """Check the home and the bind, run uvicorn until stopped.

    Without KHABAR_TOKEN the server is read-only and login-free, which is allowed on a
    loopback address only (and then answers loopback host names only); bound elsewhere it
    needs the token, and says so when it is bound elsewhere with one."""
    import uvicorn

    token = os.environ.get(TOKEN_ENV) or None
    loopback = is_loopback(host)
    if not loopback and token is None:
        raise ServeError(
            f"refusing to serve on {host} without a token: anyone who can reach it could read "
            f"the home. Set {TOKEN_ENV} (clients then send `Authorization: Bearer <token>`, "
            "browsers log in at /login), or bind to 127.0.0.1"
        )
    store = Store(home, create=False)  # a clear StoreError when there is no home yet
    try:
        have = store.get_meta("model")
    finally:
        store.close()
    if have is not None and have != model_name:
        raise StoreError(
            f"{home} holds vectors of model {have!r}, not {model_name!r}: run with "
            f"--model {have} or serve another --home"
        )
    if not loopback:
        print(
            f"warning: khabar serve is listening on {host}, reachable from other machines; "
            f"{TOKEN_ENV} is required on every route but /health and the docs",
            file=sys.stderr,
            flush=True,
        )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s:  %(name)s: %(message)s")
    logging.getLogger("khabar").setLevel(logging.INFO)
    access = logging.getLogger("khabar.access")  # one JSON line per request, on stderr
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.propagate = False
    app = create_app(home, model_spec, model_name, token=token, loopback_hosts_only=token is None)
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, access_log=False)
