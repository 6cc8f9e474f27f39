"""`khabar serve` end to end: the real server in a subprocess, spoken to over HTTP on 127.0.0.1.

The servers serve homes built with the real `khabar nightly` and the real model. Every server
is stopped in its fixture's teardown; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ID_000, ID_001, SEED_IDS, SEEDS, khabar

KHABAR = Path(sys.executable).parent / "khabar"
START_TIMEOUT = 60.0  # seconds for a server to answer /health
MODEL_TIMEOUT = 180.0  # the first POST /similar loads the model
TOKEN = "test-token-4f1c9a"

NEW_ID = "new-fa-0001"
NEW_TEXT = (
    "رئیس جمهور ایران امروز به مسکو سفر کرد و با ولادیمیر پوتین درباره تجارت، انرژی و "
    "خط لوله گاز گفت‌وگو کرد. دو طرف هفت سند همکاری امضا کردند."
)
FA_QUERY = "پوتین و علی‌اف در دوشنبه دیدار کردند"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KHABAR_TOKEN", "KHABAR_HOME", "KHABAR_MODEL")
    }
    env.update(extra)
    return env


class Server:
    """One `khabar serve` subprocess; its stdout and stderr go to files (never a full pipe)."""

    def __init__(self, home: Path, logs: Path, host: str = "127.0.0.1", **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        logs.mkdir(parents=True, exist_ok=True)
        self.err_path = logs / f"serve-{self.port}.err"
        self._out = (logs / f"serve-{self.port}.out").open("wb")
        self._err = self.err_path.open("wb")
        self.proc = subprocess.Popen(
            [str(KHABAR), "--home", str(home), "serve", "--host", host, "--port", str(self.port)],
            stdout=self._out,
            stderr=self._err,
            env=server_env(**env),
        )

    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_stderr(self, needle: str, timeout: float = START_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stderr()
            if needle in text:
                return text
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail(f"{needle!r} not on the server's stderr:\n{self.stderr()}")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"server did not answer /health within {START_TIMEOUT} s:\n{self.stderr()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._out.close()
        self._err.close()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """start_server(home, host=..., **env) -> a ready Server; all are stopped at teardown."""
    started: list[Server] = []

    def start(home: Path, host: str = "127.0.0.1", ready: bool = True, **env: str) -> Server:
        server = Server(home, tmp_path / "logs", host, **env)
        started.append(server)
        if ready:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def nightly_home(tmp_path_factory) -> Path:
    """The seeds through `khabar nightly`, once: stories, duplicates, events. Read-only."""
    home = tmp_path_factory.mktemp("serve") / "home"
    result = khabar(home, "nightly", str(SEEDS))
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture(scope="module")
def server(nightly_home: Path, tmp_path_factory) -> Iterator[Server]:
    srv = Server(nightly_home, tmp_path_factory.mktemp("serve-logs"))
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=MODEL_TIMEOUT) as c:
        yield c


def assert_json_error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "detail"} and isinstance(body["error"], str), body
    assert "Traceback" not in r.text
    return body


# --- happy paths ------------------------------------------------------------------------------


def test_health(client: httpx.Client, nightly_home: Path, server: Server) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["home"] == str(nightly_home)
    assert body["stories"] == len(SEED_IDS)
    assert body["index_generation"] >= 1
    assert body["model"] == "e5-small-khabar1"
    assert "warning" not in server.stderr()  # loopback: no warning


def test_similar_by_id(client: httpx.Client) -> None:
    r = client.get("/similar", params={"id": ID_001, "k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == {"id": ID_001}
    hits = body["results"]
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["id"] == ID_000
    assert ID_001 not in [h["id"] for h in hits]
    assert set(hits[0]) == {"rank", "score", "id", "lang", "published_at", "outlet", "title", "url"}
    # the same answer as the command line's --json
    cli = khabar(r_home(client), "similar", "--id", ID_001, "-k", "3", "--json")
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.stdout) == body


def r_home(client: httpx.Client) -> Path:
    return Path(client.get("/health").json()["home"])


def test_similar_by_id_lang_filter(client: httpx.Client) -> None:
    r = client.get("/similar", params={"id": ID_000, "k": 10, "lang": "ar"})
    assert r.status_code == 200
    hits = r.json()["results"]
    assert [h["id"] for h in hits] == [ID_001]
    assert client.get("/similar", params={"id": ID_000, "lang": "xx"}).json()["results"] == []


def test_similar_by_text_persian(client: httpx.Client) -> None:
    r = client.post("/similar", json={"text": FA_QUERY, "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == {"text": FA_QUERY, "lang": "fa"}
    assert len(body["results"]) == 5
    assert {h["id"] for h in body["results"]} == set(SEED_IDS)
    only_ar = client.post("/similar", json={"text": FA_QUERY, "lang": "ar"}).json()["results"]
    assert [h["id"] for h in only_ar] == [ID_001]


def test_story(client: httpx.Client, nightly_home: Path) -> None:
    r = client.get(f"/stories/{ID_000}")
    assert r.status_code == 200
    body = r.json()
    cli = khabar(nightly_home, "show", ID_000, "--json")
    assert body == json.loads(cli.stdout)
    assert body["lang"] == "fa" and body["event_id"]
    assert not {"raw_text", "embed_key", "input_hash"} & set(body)


def test_events(client: httpx.Client, nightly_home: Path) -> None:
    r = client.get("/events")
    assert r.status_code == 200
    events = r.json()
    cli = khabar(nightly_home, "events", "--json")
    assert events == [json.loads(line) for line in cli.stdout.splitlines()]
    exported = [json.loads(x) for x in khabar(nightly_home, "export").stdout.splitlines()]
    assert len(events) == len({s["event_id"] for s in exported})
    joint = [e for e in events if ID_001 in {s["id"] for s in e["stories_list"]}]
    assert len(joint) == 1 and joint[0]["stories"] == len(joint[0]["stories_list"])
    since = client.get("/events", params={"since": "2025-10-01"}).json()
    assert joint[0]["id"] in [e["id"] for e in since]
    assert all(e["last"] >= "2025-10-01" for e in since)
    assert len(since) < len(events)
    assert len(client.get("/events", params={"limit": 1}).json()) == 1


def test_event(client: httpx.Client) -> None:
    event_id = client.get(f"/stories/{ID_001}").json()["event_id"]
    r = client.get(f"/events/{event_id}")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == event_id
    assert ID_001 in [s["id"] for s in body["stories"]]
    dates = [s["published_at"] for s in body["stories"]]
    assert dates == sorted(dates)  # in publication order
    assert body["stories"][0]["event_id"] == event_id


def test_docs(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/health", "/similar", "/events", "/events/{event_id}"} <= set(spec["paths"])
    assert set(spec["paths"]["/similar"]) == {"get", "post"}


# --- client mistakes: 4xx with a JSON body --------------------------------------------------

BIG = 1_000_001

BAD_REQUESTS = [
    ("GET", "/similar?id=no-such-story", None, 404),
    ("GET", "/stories/no-such-story", None, 404),
    ("GET", "/events/ev-20000101-0001", None, 404),
    ("GET", f"/similar?id={ID_001}&k=0", None, 422),
    ("GET", f"/similar?id={ID_001}&k=1001", None, 422),
    ("GET", f"/similar?id={ID_001}&k=ten", None, 422),
    ("GET", f"/similar?id={ID_001}&k=2.5", None, 422),
    ("GET", "/similar", None, 422),
    ("GET", "/events?since=yesterday", None, 422),
    ("POST", "/similar", b'{"text": "abc", "k": ', 400),
    ("POST", "/similar", b"\xff\xfe not utf-8", 400),
    ("POST", "/similar", {"text": ""}, 422),
    ("POST", "/similar", {"text": "  \n\t "}, 422),
    ("POST", "/similar", {"text": "abc", "k": 0}, 422),
    ("POST", "/similar", {"text": "abc", "k": 1001}, 422),
    ("POST", "/similar", {"text": "abc", "k": "5"}, 422),
    ("POST", "/similar", {"text": "abc", "k": 2.5}, 422),
    ("POST", "/similar", {"k": 3}, 422),
    ("POST", "/similar", {"text": 42}, 422),
    ("POST", "/similar", ["abc"], 422),
    ("POST", "/similar", b'{"text": "\\ud800"}', 422),
    ("POST", "/similar", {"text": "x" * BIG}, 413),
    ("GET", "/no/such/route", None, 404),
    ("DELETE", "/similar", None, 405),
    ("POST", "/health", None, 405),
    ("PUT", f"/stories/{ID_000}", None, 405),
]


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    BAD_REQUESTS,
    ids=[f"{m} {u[:40]} {s}" for m, u, _, s in BAD_REQUESTS],
)
def test_bad_request(client: httpx.Client, method: str, url: str, body, status: int) -> None:
    if body is None:
        r = client.request(method, url)
    elif isinstance(body, bytes):
        r = client.request(method, url, content=body, headers={"content-type": "application/json"})
    else:
        r = client.request(method, url, json=body)
    assert_json_error(r, status)


def test_chunked_body_over_limit(server: Server) -> None:
    """A streamed body without Content-Length is refused once it passes 1 MB."""
    consumed = 0

    def body() -> Iterator[bytes]:
        nonlocal consumed
        for _ in range(64):  # 4 MB if it were all read
            consumed += 1
            yield b"x" * 65536

    with httpx.Client(timeout=30) as c:
        r = c.post(server.url + "/similar", content=body())
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert_json_error(r, 413)


def test_chunked_body_refused_before_it_ends(server: Server) -> None:
    """The 413 comes while the body is still open: the server stops reading at the limit
    rather than waiting for (or buffering) the rest."""
    chunk = b"y" * 65536
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
        s.sendall(
            b"POST /similar HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(16):  # 1,048,576 bytes, and no terminating chunk
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        data = b""
        try:
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                part = s.recv(65536)
                if not part:
                    break
                data += part
        except ConnectionResetError:
            pass  # the server closes with our unread bytes pending; the answer came first
    head, _, payload = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), data[:200]
    assert json.loads(payload)["error"] == "payload_too_large"


def test_content_length_over_limit_refused_unread(server: Server) -> None:
    """A declared Content-Length over the limit is refused before any body byte is sent."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
        s.sendall(
            b"POST /similar HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n"
        )
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 413"), data[:200]


def test_server_still_healthy_after_bad_requests(client: httpx.Client) -> None:
    assert client.get("/health").json()["status"] == "ok"


# --- a nightly run into the served home -----------------------------------------------------


def test_nightly_into_served_home(nightly_home: Path, tmp_path: Path, start_server) -> None:
    """The server answers throughout a nightly run into its own home, and afterwards sees
    the new generation and the new story without a restart."""
    home = tmp_path / "home"
    shutil.copytree(nightly_home, home)
    srv = start_server(home)
    c = httpx.Client(base_url=srv.url, timeout=MODEL_TIMEOUT)
    before = c.get("/health").json()
    assert before["stories"] == 5
    assert_json_error(c.get("/similar", params={"id": NEW_ID}), 404)

    news = tmp_path / "news.jsonl"
    row = {"id": NEW_ID, "text": NEW_TEXT, "lang": "fa", "published_at": "2025-11-03"}
    news.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")

    statuses: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=srv.url, timeout=30) as pc:
            while not stop.is_set() and len(statuses) < 5000:
                statuses.append(pc.get("/similar", params={"id": ID_001}).status_code)
                statuses.append(pc.get("/health").status_code)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        job = subprocess.run(
            [str(KHABAR), "--home", str(home), "nightly", str(news)],
            capture_output=True,
            text=True,
            env=server_env(),
            timeout=300,
        )
    finally:
        stop.set()
        poller.join(timeout=60)
    assert job.returncode == 0, job.stderr
    assert len(statuses) >= 20 and set(statuses) == {200}, (len(statuses), set(statuses))

    after = c.get("/health").json()
    assert after["stories"] == 6
    assert after["index_generation"] == before["index_generation"] + 1
    assert after["serving_generation"] == after["index_generation"]
    assert after["status"] == "ok"
    by_id = c.get("/similar", params={"id": NEW_ID, "k": 3})
    assert by_id.status_code == 200 and len(by_id.json()["results"]) == 3
    by_text = c.post("/similar", json={"text": NEW_TEXT, "k": 3}).json()["results"]
    assert by_text[0]["id"] == NEW_ID and by_text[0]["score"] > 0.9
    assert c.get(f"/stories/{NEW_ID}").json()["event_id"]
    assert srv.proc.poll() is None  # the same process throughout
    c.close()


# --- bearer token and binding -----------------------------------------------------------------


def test_bearer_token(nightly_home: Path, start_server) -> None:
    srv = start_server(nightly_home, KHABAR_TOKEN=TOKEN)
    url = f"{srv.url}/similar?id={ID_001}"
    with httpx.Client(timeout=30) as c:
        assert_json_error(c.get(url), 401)
        assert_json_error(c.get(url, headers={"Authorization": f"Bearer {TOKEN}x"}), 401)
        assert_json_error(c.get(url, headers={"Authorization": TOKEN}), 401)
        assert_json_error(c.get(srv.url + "/no/such/route"), 401)
        assert_json_error(c.post(srv.url + "/similar", json={"text": "abc"}), 401)
        ok = c.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["results"][0]["id"] == ID_000
        assert c.get(f"{srv.url}/stories/{ID_000}", headers={"Authorization": f"Bearer {TOKEN}"})
        assert c.get(srv.url + "/health").status_code == 200
        assert c.get(srv.url + "/docs").status_code == 200
        assert c.get(srv.url + "/openapi.json").status_code == 200


def test_non_loopback_bind_without_token_is_refused(nightly_home: Path) -> None:
    """Login-free (no KHABAR_TOKEN) is for loopback only: elsewhere serve refuses to start."""
    r = subprocess.run(
        [str(KHABAR), "--home", str(nightly_home), "serve", "--host", "0.0.0.0"]
        + ["--port", str(free_port())],
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    assert "0.0.0.0" in r.stderr and "KHABAR_TOKEN" in r.stderr and "127.0.0.1" in r.stderr
    assert "Uvicorn running" not in r.stderr


def test_non_loopback_bind_with_token_warns(nightly_home: Path, start_server) -> None:
    srv = start_server(nightly_home, host="0.0.0.0", ready=False, KHABAR_TOKEN=TOKEN)
    text = srv.wait_for_stderr("Uvicorn running on")
    assert "warning" in text and "0.0.0.0" in text and "KHABAR_TOKEN" in text
    with httpx.Client(timeout=30) as c:  # spoken to over loopback only
        assert c.get(srv.url + "/health").status_code == 200
        assert_json_error(c.get(f"{srv.url}/stories/{ID_000}"), 401)
    srv.stop()
    assert srv.proc.returncode is not None


def test_serve_without_home_fails_clearly(tmp_path: Path) -> None:
    r = subprocess.run(
        [str(KHABAR), "--home", str(tmp_path / "nothing"), "serve", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=60,
    )
    assert r.returncode == 3
    assert "no khabar database" in r.stderr
    assert not (tmp_path / "nothing").exists()


# --- in process: the last-resort 500 and an unusable home -------------------------------------


def test_unexpected_error_is_json_500(nightly_home: Path, caplog) -> None:
    from fastapi.testclient import TestClient

    from khabar.service import create_app

    app = create_app(nightly_home)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app) as tc:
        r = tc.get("/boom")
    body = assert_json_error(r, 500)
    assert "secret" not in r.text
    assert body["error"] == "internal_server_error"
    assert any("secret internals" in str(rec.exc_info) for rec in caplog.records)


def test_corrupt_index_is_503(nightly_home: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from khabar.service import create_app

    home = tmp_path / "home"
    shutil.copytree(nightly_home, home)
    (home / "index.faiss").write_bytes(b"not an index")
    with TestClient(create_app(home)) as tc:
        body = assert_json_error(tc.get("/similar", params={"id": ID_001}), 503)
        assert "khabar reindex" in body["detail"]
        health = tc.get("/health").json()
        assert health["status"] == "stale" and "reindex" in health["detail"]
        assert tc.get(f"/stories/{ID_001}").status_code == 200  # the database still answers
