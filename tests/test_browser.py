"""The pages in a real headless browser: Debian's Chromium and chromedriver, driven by selenium.

The server runs on 127.0.0.1 over a home with the seed stories and NTREX-128 dev (two nightly
runs, so two reports). With JavaScript off, as the pages must work without it, an analyst
types a Persian query, opens a Persian result, follows its event, and reads the events, the
reports and the latest report; every right-to-left headline must be marked `dir` and laid out
right to left, Persian text must be drawn with a font that has its letters (no tofu), and the
browser must have loaded nothing from elsewhere. Then, with JavaScript on, /docs and /redoc
must render from khabar's own assets. A PNG of each page goes to the test's output folder
(`screenshots/` under its tmp_path; the paths are printed).

Skipped, with the reason, only when /usr/bin/chromium is absent and CI is not set; .ci/run
installs it (`apt-get install chromium chromium-driver fonts-noto-core`).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import urlopen

import pytest
from conftest import SEEDS, SHARED_DATA, khabar
from test_service import Server

from khabar.views import RTL_LANGS

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
NTREX = SHARED_DATA / "ntrex-dev" / "docs.jsonl"
FA_QUERY = "حمله کوسه به نوجوان ۱۳ ساله هنگام غواصی در کالیفرنیا"  # NTREX: a shark attack
WAIT = 60  # seconds for a page or an element
TOP_HEIGHT = 1400  # px of the first screenshot of a page: what one sees first
TILE_HEIGHT = 8000  # px of each further screenshot: together they cover the whole page
ARABIC_SCRIPT_FONTS = ("Noto Naskh Arabic", "Noto Sans Arabic", "Noto Kufi Arabic", "Vazirmatn")

if not CHROMIUM.exists():
    reason = f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(f"the browser test must run in CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from selenium import webdriver  # noqa: E402  (only where Chromium is)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def ntrex_with_times(path: Path) -> Path:
    """NTREX dev with a publication time: one article every 25 minutes of 2019-06-01, its
    Persian and Arabic versions 17 and 41 minutes after the English one."""
    rows = [json.loads(line) for line in NTREX.read_text(encoding="utf-8").splitlines()]
    articles = sorted({r["article_id"] for r in rows})
    offset = {"en": 0, "fa": 17, "ar": 41}
    with path.open("w", encoding="utf-8") as out:
        for r in rows:
            minutes = articles.index(r["article_id"]) * 25 + offset[r["lang"]]
            r["published_at"] = f"2019-06-01T{minutes // 60:02d}:{minutes % 60:02d}:00+00:00"
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("browser") / "home"
    assert khabar(home, "nightly", str(SEEDS)).exit_code == 0
    data = ntrex_with_times(tmp_path_factory.mktemp("browser-in") / "ntrex.jsonl")
    result = khabar(home, "nightly", str(data))
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture(scope="module")
def server(home: Path, tmp_path_factory) -> Iterator[Server]:
    srv = Server(home, tmp_path_factory.mktemp("browser-logs"))
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def chromium(javascript: bool) -> WebDriver:
    """Headless Chromium from Debian, with nothing that reaches out to the network."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={tempfile.mkdtemp(prefix='khabar-chromium-')}",
    ):
        opts.add_argument(arg)
    prefs = {"intl.accept_languages": "fa,en"}  # a Persian analyst's browser
    if not javascript:
        prefs["profile.managed_default_content_settings.javascript"] = 2
    opts.add_experimental_option("prefs", prefs)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(240)  # the first free-text query loads the model
    return driver


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = chromium(javascript=False)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: WebDriver, folder: Path, name: str) -> list[Path]:
    """PNGs of the page: `name.png`, its top (TOP_HEIGHT px), and when the page is taller,
    `name-full-1.png`, ... tiles of TILE_HEIGHT px that together cover all of it."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = max(driver.execute_script("return document.documentElement.scrollWidth"), 1280)
    clips = [(name, 0, min(height, TOP_HEIGHT))]
    if height > TOP_HEIGHT:
        clips += [
            (f"{name}-full-{i + 1}", y, min(TILE_HEIGHT, height - y))
            for i, y in enumerate(range(0, height, TILE_HEIGHT))
        ]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for label, y, h in clips:
        clip = {"x": 0, "y": y, "width": width, "height": h, "scale": 1}
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        path = folder / f"{label}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        assert path.stat().st_size > 5_000
        print(f"screenshot: {path} ({width}x{h} from y={y}; page {width}x{height})")
        paths.append(path)
    return paths


def is_rtl_text(text: str) -> bool:
    import unicodedata

    first = next((c for c in text if unicodedata.bidirectional(c) in ("L", "R", "AL")), "")
    return bool(first) and unicodedata.bidirectional(first) in ("R", "AL")


def check_directions(driver: WebDriver, css: str = ".headline") -> int:
    """Every headline is marked `dir` and laid out as its language reads: a Persian or Arabic
    one `dir="rtl"` (even when it opens with a Latin name), any other `dir="auto"` (right to
    left only if its first strong letter is). Returns how many were right to left."""
    rtl = 0
    for el in driver.find_elements(By.CSS_SELECTOR, css):
        text = el.text.strip()
        if not text:
            continue
        html = el.get_attribute("outerHTML")[:200]
        right_to_left = el.get_attribute("lang") in RTL_LANGS
        assert el.get_attribute("dir") == ("rtl" if right_to_left else "auto"), html
        expected = "rtl" if right_to_left or is_rtl_text(text) else "ltr"
        assert el.value_of_css_property("direction") == expected, html
        rtl += expected == "rtl"
    return rtl


def fonts_of(driver: WebDriver, css: str) -> list[str]:
    """The fonts Chromium drew the element's text with (DevTools' CSS.getPlatformFontsForNode)."""
    driver.execute_cdp_cmd("DOM.enable", {})
    driver.execute_cdp_cmd("CSS.enable", {})
    root = driver.execute_cdp_cmd("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = driver.execute_cdp_cmd("DOM.querySelector", {"nodeId": root, "selector": css})
    assert node["nodeId"], css
    fonts = driver.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
    return [f["familyName"] for f in fonts["fonts"] if f["glyphCount"]]


def resources(driver: WebDriver) -> list[str]:
    return driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href])"
    )


def assert_nothing_from_elsewhere(driver: WebDriver, base: str) -> None:
    host = urlparse(base).netloc
    for url in resources(driver):
        assert urlparse(url).netloc == host, url
    problems = [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" or "Content Security Policy" in e["message"]
    ]
    assert not problems, problems


def wait_for(driver: WebDriver, css: str):
    return WebDriverWait(driver, WAIT).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_an_analyst_in_a_browser(server: Server, browser: WebDriver, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    b, base = browser, server.url

    # 1. The search page, then a Persian query typed into it (no JavaScript anywhere).
    b.get(base + "/")
    assert b.execute_script("return document.scripts.length") == 0
    box = wait_for(b, "input[name=q]")
    assert box.get_attribute("dir") == "auto"
    box.send_keys(FA_QUERY)
    assert box.value_of_css_property("direction") == "rtl"  # dir=auto follows the typing
    box.send_keys(Keys.ENTER)
    wait_for(b, "table.results")
    assert "Read as fa" in b.find_element(By.TAG_NAME, "main").text
    assert b.find_element(By.CSS_SELECTOR, "input[name=q]").get_attribute("value") == FA_QUERY
    rows = b.find_elements(By.CSS_SELECTOR, "table.results tr")[1:]
    assert len(rows) == 20
    assert check_directions(b) >= 5
    assert any(f in ARABIC_SCRIPT_FONTS for f in fonts_of(b, "table.results .headline a"))
    assert b.execute_script("return document.documentElement.scrollWidth") <= 1280  # no overflow
    screenshot(b, shots, "1-search-fa")
    assert_nothing_from_elsewhere(b, base)

    # 2. Open the first Persian result: the Persian version of the shark story.
    persian = [r for r in rows if r.find_elements(By.XPATH, "./td[3]")[0].text == "fa"]
    assert persian, "no Persian result"
    link = persian[0].find_element(By.CSS_SELECTOR, ".headline a")
    assert link.get_attribute("href").endswith("/stories/ntrex-upi.176266-fa")
    title = link.text
    link.click()
    h1 = wait_for(b, "h1.headline")
    assert h1.text == title
    assert h1.get_attribute("dir") == "rtl" and h1.get_attribute("lang") == "fa"
    assert h1.value_of_css_property("direction") == "rtl"
    assert h1.value_of_css_property("text-align") in ("start", "right")
    text = b.find_element(By.CSS_SELECTOR, "article.text")
    assert text.value_of_css_property("direction") == "rtl"
    fonts = fonts_of(b, "h1.headline")
    assert any(f in ARABIC_SCRIPT_FONTS for f in fonts), fonts
    local = b.find_elements(By.CSS_SELECTOR, "dl.fields .local bdi")
    assert [x.get_attribute("title") for x in local] == ["jalali", "hijri"]
    assert all(x.value_of_css_property("direction") == "rtl" for x in local)
    check_directions(b)
    screenshot(b, shots, "2-story-fa")
    assert_nothing_from_elsewhere(b, base)

    # 3. Follow its event: named in Persian (the browser asks for fa), grouped, with a timeline.
    b.find_element(By.XPATH, "//dt[text()='event']/following-sibling::dd[1]//a").click()
    h1 = wait_for(b, "h1.headline")
    assert "/events/ev-" in b.current_url
    assert h1.get_attribute("lang") == "fa" and h1.value_of_css_property("direction") == "rtl"
    langs = [x.text for x in b.find_elements(By.CSS_SELECTOR, ".group .lang")]
    assert "fa" in langs and len(langs) >= 2
    assert b.find_elements(By.CSS_SELECTOR, "table.timeline svg rect")
    twin = json.loads(urlopen(b.current_url + "?format=json", timeout=30).read())
    copies = [s for s in twin["stories"] if s["duplicate_of"]]
    marks = b.find_elements(By.CSS_SELECTOR, "table.groups :is(.exact, .near, .translation)")
    assert len(marks) == len(copies)  # every duplicate marked, with its kind
    assert sorted(m.text.split()[0] for m in marks) == sorted(s["duplicate_kind"] for s in copies)
    assert check_directions(b) >= 2
    screenshot(b, shots, "3-event")
    assert_nothing_from_elsewhere(b, base)

    # 4. All events, named by headline, newest first, paged.
    b.find_element(By.LINK_TEXT, "Events").click()
    wait_for(b, "section.card")
    names = [x.text for x in b.find_elements(By.CSS_SELECTOR, "section.card h2 bdi")]
    assert len(names) == 25 and not any(n.startswith("ev-") for n in names)
    assert b.find_element(By.PARTIAL_LINK_TEXT, "older events")
    assert check_directions(b) > 25  # the names and the stories listed under them
    screenshot(b, shots, "4-events")
    assert_nothing_from_elsewhere(b, base)

    # 5. The reports, latest and earlier, and the latest report itself.
    b.find_element(By.LINK_TEXT, "Reports").click()
    wait_for(b, "main table")
    runs = b.find_elements(By.CSS_SELECTOR, "main table tr")[1:]
    assert len(runs) == 2  # the seeds' night and NTREX's
    screenshot(b, shots, "5-reports")
    b.find_element(By.LINK_TEXT, "The latest report").click()
    wait_for(b, "table.timeline")
    caption = b.find_element(By.CSS_SELECTOR, "table.timeline caption").text
    assert "(by hour)" in caption  # one day of news reads by hour
    labels = b.find_elements(By.CSS_SELECTOR, "td.tl-label bdi")
    assert len(labels) == 30 and not any(x.text.startswith("ev-") for x in labels)
    for cell in b.find_elements(By.CSS_SELECTOR, "td[lang]"):  # the stories' headlines
        right_to_left = cell.get_attribute("lang") in RTL_LANGS
        assert cell.get_attribute("dir") == ("rtl" if right_to_left else "auto")
        assert (cell.value_of_css_property("direction") == "rtl") == right_to_left or (
            is_rtl_text(cell.text)
        )
    ticks = [t.text for t in b.find_elements(By.CSS_SELECTOR, "svg.axis text")]
    assert len(set(ticks)) >= 5, ticks
    screenshot(b, shots, "6-report")
    assert_nothing_from_elsewhere(b, base)


def test_api_docs_render_offline(server: Server, tmp_path: Path) -> None:
    """/docs and /redoc draw the API from khabar's own scripts: the browser loads nothing
    from anywhere else (and this network could not give it anything)."""
    driver = chromium(javascript=True)
    try:
        driver.get(server.url + "/docs")
        title = WebDriverWait(driver, WAIT).until(
            ec.visibility_of_element_located((By.CSS_SELECTOR, ".swagger-ui .info .title"))
        )
        assert title.text.startswith("khabar")
        WebDriverWait(driver, WAIT).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path"))
        )
        paths = {x.text for x in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert {"/similar", "/search", "/events/{event_id}", "/metrics"} <= {
            p.replace("\u200b", "") for p in paths
        }
        screenshot(driver, tmp_path / "screenshots", "7-docs")
        assert_nothing_from_elsewhere(driver, server.url)

        driver.get(server.url + "/redoc")
        heading = WebDriverWait(driver, WAIT).until(
            ec.visibility_of_element_located((By.CSS_SELECTOR, "h1"))
        )
        assert heading.text.startswith("khabar")
        WebDriverWait(driver, WAIT).until(
            lambda d: "/similar" in d.find_element(By.TAG_NAME, "body").text
        )
        screenshot(driver, tmp_path / "screenshots", "8-redoc")
        assert_nothing_from_elsewhere(driver, server.url)
    finally:
        driver.quit()
