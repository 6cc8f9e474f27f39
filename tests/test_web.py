"""The pages of `khabar serve` and its HTTP behaviour, against the real server on 127.0.0.1.

Pages and their JSON twins, their filters and paging, the reports, the offline docs (no CDN
left in any page), /metrics, the access log, the 413 that urllib and requests receive, the
login that the token requires in a browser, and the paged queries against store.events() on
a home grown to a few thousand stories. The browser itself is in test_browser.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import httpx
import pytest
import requests
from conftest import ID_000, ID_001, ID_004, REPO, SEED_IDS, SEEDS, khabar, seed_text
from markupsafe import escape
from test_service import TOKEN, Server, assert_json_error, server_env

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
COPY_ID = "copy-of-001"
FA_QUERY = "پوتین و علی‌اف در دوشنبه دیدار کردند"


class Links(HTMLParser):
    """Every src and href of a page, and the tags that load something."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        for k, v in attrs:
            if k in ("src", "href", "action") and v is not None:
                self.urls.append((tag, k, v))


def links(page: str) -> Links:
    parser = Links()
    parser.feed(page)
    return parser


def hrefs(page: str, prefix: str) -> list[str]:
    return [v for tag, k, v in links(page).urls if tag == "a" and v.startswith(prefix)]


def headline_links(page: str) -> list[str]:
    """The links of the headlines (not those of the duplicate marks beside them)."""
    return re.findall(r'<bdi class="headline" dir="[a-z]+" lang="[^"]*"><a href="([^"]+)"', page)


@pytest.fixture(scope="module")
def web_home(tmp_path_factory) -> Path:
    """Two nightly runs: the seeds, then an exact copy of the Arabic seed (a second report,
    and a story with a copy)."""
    home = tmp_path_factory.mktemp("web") / "home"
    assert khabar(home, "nightly", str(SEEDS)).exit_code == 0
    extra = tmp_path_factory.mktemp("web-in") / "copy.jsonl"
    row = {"id": COPY_ID, "text": seed_text(ID_001), "lang": "ar", "outlet": "copycat",
           "published_at": "2025-10-10"}  # fmt: skip
    extra.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    time.sleep(1.1)  # reports are named by the second of their run
    result = khabar(home, "nightly", str(extra))
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture(scope="module")
def server(web_home: Path, tmp_path_factory) -> Iterator[Server]:
    srv = Server(web_home, tmp_path_factory.mktemp("web-logs"))
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def web(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=180) as c:
        yield c


def page(c: httpx.Client, url: str, status: int = 200, headers=None, **kw) -> str:
    r = c.get(url, headers={**HTML, **(headers or {})}, **kw)
    assert r.status_code == status, (url, r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("text/html"), r.headers
    return r.text


# --- pages and their JSON twins ----------------------------------------------------------------


def test_root_is_a_page_for_browsers_and_a_map_for_programs(web: httpx.Client) -> None:
    text = page(web, "/")
    assert "<form" in text and 'name="q"' in text and 'dir="auto"' in text
    assert "6 stories" in text
    body = web.get("/").json()  # Accept: */*: a program
    assert body["service"] == "khabar" and "/search" in body["api"]


def test_story_page_and_its_twin(web: httpx.Client, web_home: Path) -> None:
    text = page(web, f"/stories/{ID_001}")
    story = web.get(f"/stories/{ID_001}").json()
    assert story == json.loads(khabar(web_home, "show", ID_001, "--json").stdout)
    assert web.get(f"/stories/{ID_001}", params={"format": "json"}).json() == story
    assert web.get(f"/stories/{ID_001}", headers=HTML).headers["vary"] == "Accept"
    # the headline, right-to-left, marked as such, and its cleaned text
    assert f'<h1 dir="rtl" lang="ar" class="headline">{escape(story["title"])}</h1>' in text
    assert '<article class="text" dir="rtl" lang="ar">' in text
    # its copies with kind, score and evidence: at least the exact copy
    kinds = {c["id"]: c["duplicate_kind"] for c in story["copies"]}
    assert kinds[COPY_ID] == "exact" and set(kinds) <= {COPY_ID, ID_000}
    section = text.split("<h2>Duplicates of this story</h2>")[1].split("<h2>")[0]
    for cid, kind in kinds.items():
        assert f'href="/stories/{cid}"' in section
        assert f'<span class="kind {kind}">{kind}</span>' in section
    # the evidence: the rule for an exact copy, the scorer's features for a near or translated one
    assert "the same cleaned text (identical content hash)" in section
    if set(kinds.values()) - {"exact"}:
        assert "contribution" in section
    # its event, by name, and the similar stories (the same list as GET /similar)
    assert f'href="/events/{story["event_id"]}"' in text
    similar = web.get("/similar", params={"id": ID_001, "k": 10}).json()["results"]
    listed = text.split("Similar stories, across languages")[1].split("<h2>")[0]
    assert headline_links(listed) == [f"/stories/{h['id']}" for h in similar]
    # the twin links in the footer
    assert f'href="/stories/{ID_001}?format=json"' in text


def test_story_page_of_a_copy_and_of_a_file_dated_story(web: httpx.Client) -> None:
    text = page(web, f"/stories/{COPY_ID}")
    assert "A copy of another story" in text and f'href="/stories/{ID_001}"' in text
    assert '<span class="kind exact">exact</span>' in text
    # Jalali and Hijri beside the Gregorian date of a Persian story (2025-10-12)
    text = page(web, f"/stories/{ID_000}")
    assert "۲۰ مهر ۱۴۰۴" in text and "ربيع الثاني" in text and "2025-10-12" in text
    filed = page(web, f"/stories/{ID_004}")
    assert "file date, not published" in filed


def test_search_page_by_text_matches_its_twin_and_similar(web: httpx.Client) -> None:
    text = page(web, "/", params={"q": FA_QUERY})
    twin = web.get("/search", params={"q": FA_QUERY}).json()
    assert twin["query"] == {"text": FA_QUERY, "lang": "fa"}
    similar = web.post("/similar", json={"text": FA_QUERY, "k": 20}).json()["results"]
    assert [h["id"] for h in twin["results"]] == [h["id"] for h in similar]
    assert [h["score"] for h in twin["results"]] == [h["score"] for h in similar]
    results = text.split('<table class="results">')[1].split("</table>")[0]
    assert headline_links(results) == [f"/stories/{h['id']}" for h in twin["results"]]
    for h in twin["results"]:
        assert f"{h['score']:.3f}" in results
    assert "Read as <b>fa</b>" in text


def test_search_by_story_id_and_filters(web: httpx.Client) -> None:
    by_id = web.get("/search", params={"q": ID_001}).json()
    assert by_id["query"]["id"] == ID_001
    assert by_id["results"][0]["id"] == COPY_ID  # its exact copy
    ids = {h["id"] for h in by_id["results"]}
    assert ids == set(SEED_IDS) - {ID_001} | {COPY_ID}
    only_ar = web.get("/search", params={"q": ID_000, "lang": "ar"}).json()["results"]
    assert {h["id"] for h in only_ar} == {ID_001, COPY_ID}
    hidden = web.get("/search", params={"q": ID_004, "duplicates": "hide"}).json()
    copies = {h["id"] for h in by_id["results"] if h["duplicate_of"]} | {COPY_ID}
    assert (
        hidden["considered"] == 5
        and {h["id"] for h in hidden["results"]} == (set(SEED_IDS) | {COPY_ID}) - {ID_004} - copies
    )
    outlet = web.get("/search", params={"q": ID_004, "outlet": "COPYCAT"}).json()["results"]
    assert [h["id"] for h in outlet] == [COPY_ID]
    dated = web.get("/search", params={"q": ID_004, "since": "2025-10-01", "until": "2025-10-11"})
    assert {h["id"] for h in dated.json()["results"]} == {ID_001, COPY_ID}
    text = page(web, "/", params={"q": ID_004, "since": "2025-10-01", "until": "2025-10-11"})
    assert "filtered from the 5 nearest" in text
    assert_json_error(web.get("/search", params={"q": "x", "since": "soon"}), 422)
    assert_json_error(web.get("/search"), 422)
    bad = page(web, "/", 422, params={"since": "soon"})
    assert "not a date" in bad


def test_events_pages_follow_the_json_order(web: httpx.Client, web_home: Path) -> None:
    cli = [json.loads(line) for line in khabar(web_home, "events", "--json").stdout.splitlines()]
    assert web.get("/events").json() == cli
    seen, url = [], "/events?n=1&hl=fa"
    while url:
        text = page(web, url)
        seen += [h for h in hrefs(text, "/events/ev-") if "?" not in h][:1]
        older = re.search(r'<a href="([^"]+)">older events', text)
        url = older.group(1).replace("&amp;", "&") if older else None
        assert len(seen) <= len(cli)
    assert seen == [f"/events/{e['id']}" for e in cli]
    # the JSON pages the same way
    first = web.get("/events", params={"limit": 2}).json()
    after = web.get(
        "/events", params={"limit": 2, "before": f"{first[-1]['last']}|{first[-1]['id']}"}
    ).json()
    assert [e["id"] for e in first + after] == [e["id"] for e in cli[:4]]
    assert_json_error(web.get("/events", params={"before": "nobar"}), 422)


def test_events_are_named_by_headline(web: httpx.Client) -> None:
    """Named in the asked language where the event has a story in it (an original, not a
    copy), else in its most common language. Whether the fa seed 000 and the ar seed 001 are
    one event is the decisions' call, so the expected names come from the event's stories."""
    event_id = web.get(f"/stories/{ID_001}").json()["event_id"]
    stories = web.get(f"/events/{event_id}").json()["stories"]
    langs = Counter(s["lang"] for s in stories)
    pages = {}
    for hl in ("fa", "ar"):
        pages[hl] = text = page(web, f"/events/{event_id}", params={"hl": hl})
        named = hl if hl in langs else langs.most_common(1)[0][0]
        titles = [s["title"] for s in stories if s["lang"] == named and not s["duplicate_of"]]
        h1 = re.search(r'<h1 dir="(\w+)" lang="(\w+)" class="headline">(.*?)</h1>', text)
        assert h1 and h1.groups()[:2] == ("rtl", named), h1
        assert h1.group(3) in {str(escape(t)) for t in titles}
    fa = pages["fa"]
    ar_title = web.get(f"/stories/{ID_001}").json()["title"]  # an original, the only ar one
    # grouped by language and outlet, duplicates marked, a timeline
    for lang in langs:
        assert f'<span class="lang">{lang}</span>' in fa
    assert "copycat" in fa and 'class="kind exact"' in fa
    for s in web.get(f"/events/{event_id}").json()["stories"]:  # every copy is marked
        if s["duplicate_of"]:
            assert f'<span class="kind {s["duplicate_kind"]}">{s["duplicate_kind"]} of' in fa
    assert "<table class='timeline'>" in fa and "<svg" in fa
    assert re.search(r"\(by (hour|day)\)", fa)  # the seeds' dates span days, not months
    listing = page(web, "/events", params={"hl": "ar"})
    assert str(escape(ar_title)) in listing
    assert_json_error(web.get("/events/ev-20000101-0001"), 404)
    assert "no event" in page(web, "/events/ev-20000101-0001", 404)


def test_reports_pages(web: httpx.Client, web_home: Path) -> None:
    text = page(web, "/reports")
    files = sorted(p.name for p in (web_home / "reports").glob("*T*Z.html"))
    assert len(files) == 2
    for name in files:
        assert f'href="/reports/{name}"' in text
    assert 'href="/reports/latest.html"' in text
    listed = web.get("/reports").json()
    assert [r["name"] + ".html" for r in listed["reports"]] == files[::-1]
    assert listed["last_run"]["summary"]["new"] == 1
    latest = web.get("/reports/latest.html", headers=HTML)
    assert latest.status_code == 200 and "khabar nightly report" in latest.text
    assert "script-src" not in latest.headers["content-security-policy"]  # none allowed
    assert web.get("/reports/latest.json").json()["totals"]["events"] == 1
    for bad in ("../khabar.db", "nope.html", "latest.txt", "%2e%2e%2fkhabar.db"):
        assert web.get(f"/reports/{bad}").status_code == 404


def test_no_page_loads_anything_from_elsewhere(web: httpx.Client, server: Server) -> None:
    """No CDN in any page: every script, style, icon and form points at this server, and
    the vendored assets are there. Pages carry no script at all."""
    event_id = web.get(f"/stories/{ID_001}").json()["event_id"]
    pages = ["/", f"/?q={ID_001}", f"/stories/{ID_001}", "/events", f"/events/{event_id}",
             "/reports", "/docs", "/redoc", "/docs/oauth2-redirect"]  # fmt: skip
    for url in pages:
        text = page(web, url)
        found = links(text)
        if not url.startswith(("/docs", "/redoc")):
            assert found.scripts == 0, url
        for tag, attr, value in found.urls:
            if tag == "a":
                continue  # a link is not a load (story urls point at their outlets)
            target = urlparse(urljoin(server.url + url, value))
            assert target.netloc == urlparse(server.url).netloc, (url, tag, attr, value)
            assert web.get(target.path).status_code == 200, value
        assert not re.search(r"cdn\.|jsdelivr|unpkg|googleapis|fastapi\.tiangolo", text), url
    docs = page(web, "/docs")
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs
    assert '"validatorUrl": null' in docs
    assert "/static/vendor/redoc/redoc.standalone.js" in page(web, "/redoc")
    js = web.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert len(js.content) > 1_000_000
    for licence in ("swagger-ui/LICENSE", "swagger-ui/NOTICE", "redoc/LICENSE"):
        assert (REPO / "khabar" / "web" / "static" / "vendor" / licence).is_file()


def test_html_errors_for_browsers_json_for_programs(web: httpx.Client) -> None:
    assert "no story with id" in page(web, "/stories/no-such-story", 404)
    assert_json_error(web.get("/stories/no-such-story"), 404)
    assert "Not Found" in page(web, "/no/such/page", 404)


# --- HTTP behaviour ---------------------------------------------------------------------------


def test_body_over_the_cap_413_with_urllib_and_requests(server: Server) -> None:
    """Clients that write the whole body before reading get the 413, not a reset."""
    for size in (1_000_001, 5_000_000):
        body = json.dumps({"text": "x" * size}).encode()
        req = urllib.request.Request(
            server.url + "/similar", data=body, headers={"content-type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=60)
        assert caught.value.code == 413
        assert json.loads(caught.value.read())["error"] == "payload_too_large"
        r = requests.post(
            server.url + "/similar",
            data=body,
            headers={"content-type": "application/json"},
            timeout=60,
        )
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    with urllib.request.urlopen(server.url + "/health", timeout=30) as ok:
        assert json.loads(ok.read())["status"] == "ok"


def test_metrics_and_access_log(web_home: Path, tmp_path: Path) -> None:
    """A fresh server: a few requests, then /metrics counts them, and the log has one JSON
    line for each."""
    srv = Server(web_home, tmp_path / "logs")
    try:
        srv.wait_ready()
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            for _ in range(3):
                assert c.get(f"/stories/{ID_001}").status_code == 200
            assert c.get("/stories/nope").status_code == 404
            assert c.get("/events", headers=HTML).status_code == 200
            assert c.get("/static/favicon.svg").status_code == 200
            big = c.post("/similar", content=b"x" * 1_100_000)
            assert big.status_code == 413
            # the 413 is counted once its body is drained, on a connection of its own: wait
            for _ in range(50):
                metrics = c.get("/metrics")
                text = metrics.text
                if 'method="POST",route="/similar",status="413"' in text:
                    break
                time.sleep(0.1)
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        route = 'route="/stories/{story_id:path}"'
        assert f'khabar_http_requests_total{{method="GET",{route},status="200"}} 3' in text
        assert f'khabar_http_requests_total{{method="GET",{route},status="404"}} 1' in text
        assert f'khabar_http_errors_total{{{route},class="client"}} 1' in text
        assert f"khabar_http_request_duration_seconds_count{{{route}}} 4" in text
        assert f'khabar_http_request_duration_seconds_bucket{{{route},le="+Inf"}} 4' in text
        assert "# TYPE khabar_http_request_duration_seconds histogram" in text
        # refused before routing, or served by a mount: labelled by the route the path matches
        assert 'khabar_http_requests_total{method="POST",route="/similar",status="413"} 1' in text
        assert 'khabar_http_requests_total{method="GET",route="/static",status="200"} 1' in text
        assert 'route="unmatched"' not in text
        events = len(khabar(web_home, "events", "--json").stdout.splitlines())
        assert "\nkhabar_stories 6\n" in text and f"\nkhabar_events {events}\n" in text
        assert "\nkhabar_index_generation 2\n" in text
        assert 'khabar_last_nightly_stories{kind="new"} 1' in text
        assert 'khabar_last_nightly_duplicates{kind="exact"} 1' in text
        assert 'khabar_last_nightly_events{kind="joined"} 1' in text
        assert re.search(r"\nkhabar_last_nightly_timestamp_seconds \d+\.\d+\n", text)
        for line in text.splitlines():  # the exposition format, line by line
            assert line.startswith("# ") or re.fullmatch(r"[a-z_]+(\{.*\})? \S+", line), line
    finally:
        srv.stop()
    lines = [json.loads(x) for x in srv.stderr().splitlines() if x.startswith("{")]
    requests_seen = [
        (x["method"], x["path"], x["status"])
        for x in lines
        if x["path"] not in ("/health", "/metrics")
    ]
    assert any(x["path"] == "/metrics" for x in lines)
    # one line each; a line is written once its request's task ends, which may be after the
    # client has sent the next request on the same connection: compared without order
    assert sorted(requests_seen) == sorted(
        [
            ("GET", f"/stories/{ID_001}", 200),
            ("GET", f"/stories/{ID_001}", 200),
            ("GET", f"/stories/{ID_001}", 200),
            ("GET", "/stories/nope", 404),
            ("GET", "/events", 200),
            ("GET", "/static/favicon.svg", 200),
            ("POST", "/similar", 413),
        ]
    )
    assert all({"time", "client", "route", "ms", "bytes", "user_agent"} <= set(x) for x in lines)
    assert "INFO:     127.0.0.1" not in srv.stderr()  # not uvicorn's own line as well


def test_token_guards_pages_with_a_login(web_home: Path, tmp_path: Path) -> None:
    srv = Server(web_home, tmp_path / "logs", KHABAR_TOKEN=TOKEN)
    try:
        srv.wait_ready()
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            r = c.get(f"/stories/{ID_001}", headers=HTML)
            assert r.status_code == 303
            assert r.headers["location"] == f"/login?next=%2Fstories%2F{ID_001}"
            assert_json_error(c.get(f"/stories/{ID_001}"), 401)
            assert c.get("/static/khabar.css").status_code == 200
            form = page(c, "/login?next=/events")
            assert 'type="password" name="token"' in form
            wrong = c.post("/login", data={"token": "nope", "next": "/events"}, headers=HTML)
            assert wrong.status_code == 401 and "not the token" in wrong.text
            assert "set-cookie" not in wrong.headers
            ok = c.post("/login", data={"token": TOKEN, "next": "//evil.example/"})
            assert ok.status_code == 303 and ok.headers["location"] == "/"  # no open redirect
            cookie = ok.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
            assert c.cookies.get("khabar_session")
            text = page(c, f"/stories/{ID_001}")
            assert "Log out" in text
            assert c.get(f"/stories/{ID_001}").json()["id"] == ID_001  # the API too
            out = c.post("/logout")
            assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
            assert c.get(f"/stories/{ID_001}", headers=HTML).status_code == 303
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            bearer = {"Authorization": f"Bearer {TOKEN}", **HTML}
            assert "Log out" in page(c, "/events", headers=bearer)
            body = json.dumps({"text": "x" * 2_000_000}).encode()  # refused unread: 401 first
            req = urllib.request.Request(srv.url + "/similar", data=body)
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(req, timeout=60)
            assert caught.value.code == 401
    finally:
        srv.stop()


def test_login_free_server_answers_loopback_names_only(server: Server) -> None:
    with httpx.Client(timeout=30) as c:
        evil = c.get(server.url + "/events", headers={"host": "news.evil.example"})
        assert_json_error(evil, 403)
        for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
            assert c.get(server.url + "/events", headers={"host": host}).status_code == 200
        assert "read-only, no login" in c.get(server.url + "/", headers=HTML).text


def test_copies_follow_a_nightly_into_the_served_home(web_home: Path, tmp_path: Path) -> None:
    """The catalog of copies is per committed state: a nightly run that adds a copy shows
    on the next request, without a restart."""
    home = tmp_path / "home"
    shutil.copytree(web_home, home)
    srv = Server(home, tmp_path / "logs")
    try:
        srv.wait_ready()
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            before = {x["id"] for x in c.get(f"/stories/{ID_001}").json()["copies"]}
            news = tmp_path / "more.jsonl"
            row = {"id": "copy-2", "text": seed_text(ID_001), "lang": "ar",
                   "published_at": "2025-10-11"}  # fmt: skip
            news.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
            job = subprocess.run(
                [str(Path(sys.executable).parent / "khabar"), "--home", str(home), "nightly",
                 str(news)],
                capture_output=True, text=True, env=server_env(), timeout=300,
            )  # fmt: skip
            assert job.returncode == 0, job.stderr
            after = {x["id"] for x in c.get(f"/stories/{ID_001}").json()["copies"]}
            assert after == before | {"copy-2"}
            assert "copy-2" in page(c, f"/stories/{ID_001}")
    finally:
        srv.stop()


# --- the paged queries on a grown home ----------------------------------------------------------


def test_paged_queries_equal_the_full_ones_on_a_grown_home(web_home: Path, tmp_path: Path) -> None:
    """queries.recent_events pages through exactly what store.events() lists, and the
    catalog's copies are store.copies_of's, on a home grown to 3,000 stories."""
    sys.path.insert(0, str(REPO / "scripts"))
    from grow_home import grow

    from khabar.store import Store
    from khabar.web import queries
    from khabar.web.catalog import Catalog

    home = tmp_path / "home"
    shutil.copytree(web_home, home)
    grown = grow(home, 3000, seed=1)
    assert grown["stories"] == 3000
    store = Store(home, create=False)
    try:
        full = store.events()
        assert len(full) > 400
        pages, before = [], None
        while True:
            rows, more = queries.recent_events(store, limit=37, before=before)
            pages += rows
            if not more:
                break
            before = (rows[-1]["last"], rows[-1]["id"])
        assert pages == full
        since = full[len(full) // 3]["last"][:10]
        assert queries.recent_events(store, since=since, limit=5000)[0] == store.events(since)
        catalog = Catalog.read(store)
        some = [r["id"] for r in store.db.execute("SELECT id FROM stories ORDER BY vid")]
        for sid in some[:: len(some) // 300]:
            assert catalog.copies_of(store, sid) == store.copies_of(sid), sid
        assert sum(len(v) for v in catalog.copies.values()) == len(store.duplicates())
        by_lang = {lang: sorted(v) for lang, v in catalog.vids_by_lang.items()}
        assert set(by_lang) == {"fa", "ar"}
        for lang in by_lang:
            assert by_lang[lang] == sorted(store.vids_with_lang(lang))
    finally:
        store.close()


def test_twin_urls_round_trip(web: httpx.Client) -> None:
    """The footer's twin link of each page is JSON, and the same URL without it is the page."""
    event_id = web.get(f"/stories/{ID_001}").json()["event_id"]
    for url in ("/", f"/?q={ID_001}", f"/stories/{ID_001}", "/events", f"/events/{event_id}",
                "/reports"):  # fmt: skip
        text = page(web, url)
        twin = re.search(r'This page as JSON: <a href="([^"]+)"', text).group(1)
        twin = twin.replace("&amp;", "&")
        r = web.get(twin, headers=HTML)  # ?format=json or an API route wins over the Accept
        assert r.status_code == 200 and r.headers["content-type"] == "application/json", twin
        assert parse_qs(urlparse(twin).query).get("q", [None])[0] in (None, ID_001)
