"""The nightly report: the events the run touched, as a JSON file and an HTML page.

Written into HOME/reports/ after the run has committed, named by the run's time, with
`latest.html` and `latest.json` beside them. The HTML is one self-contained file (inline
CSS and an SVG timeline), readable offline and with right-to-left headlines set `dir=auto`.
Events are named by a representative headline (khabar.views.event_name: in the event's main
language, with one per language in the JSON), and the timeline (khabar.web.timeline) reads by
hour for a night's news and by day, week or month for longer spans. `khabar serve` lists the
reports at /reports.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from khabar.store import Store
from khabar.views import event_name, text_dir
from khabar.web import calendars, timeline

MAX_EVENTS = 200  # events listed in full; the counts cover all of them
FILE_DATE_NOTE = "no date in the text or metadata: the date of the file"


def run_events(store: Store, ids: list[str], limit: int = MAX_EVENTS) -> list[dict[str, Any]]:
    """The given events (those that received stories in the run), largest first."""
    events = []
    for eid in ids:
        stories = store.event_stories(eid)
        title, title_id, title_lang = event_name(stories)
        events.append(
            {
                "id": eid,
                "title": title,
                "title_story": title_id,
                "title_lang": title_lang,
                "titles": {
                    lang: event_name(stories, lang)[0]
                    for lang in sorted({s["lang"] for s in stories})
                },
                "size": len(stories),
                "first": min(_when(s) for s in stories),
                "last": max(_when(s) for s in stories),
                "languages": dict(Counter(s["lang"] for s in stories)),
                "stories": [
                    {
                        "id": s["id"],
                        "lang": s["lang"],
                        "outlet": s["outlet"],
                        "published_at": s["published_at"],
                        "date_source": s["date_source"],
                        "title": s["title"],
                        "url": s["url"],
                        "duplicate_of": s["duplicate_of"],
                        "duplicate_kind": s["duplicate_kind"],
                        "duplicate_score": s["duplicate_score"],
                    }
                    for s in stories
                ],
            }
        )
    events.sort(key=lambda e: (-e["size"], e["last"], e["id"]))
    return events[:limit]


def _when(story: dict[str, Any]) -> str:
    return (story.get("published_at") or story["ingested_at"])[:10]


TIMELINE_ROWS = 30  # the largest events get a row each


def build(store: Store, summary: dict[str, Any], event_ids: list[str]) -> dict[str, Any]:
    events = run_events(store, event_ids)
    kinds = Counter(
        s["duplicate_kind"] for e in events for s in e["stories"] if s["duplicate_kind"]
    )
    return {
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "home": str(store.home),
        "summary": {k: v for k, v in summary.items() if k != "rejections"},
        "rejections": summary.get("rejections", []),
        "totals": {
            "events": len(events),
            "stories": sum(e["size"] for e in events),
            "duplicates": dict(kinds),
            "multilingual_events": sum(1 for e in events if len(e["languages"]) > 1),
        },
        "events": events,
    }


def write_report(store: Store, summary: dict[str, Any]) -> tuple[Path, Path]:
    """Report the events of every run since the last report: normally this run's, plus those
    of a run that was killed after its commit and before its report."""
    last_run, event_ids = store.unreported_events()
    report = build(store, summary, event_ids)
    folder = store.home / "reports"
    folder.mkdir(exist_ok=True)
    for stale in folder.glob(".tmp-*"):  # left by a run killed while writing its report
        stale.unlink(missing_ok=True)
    stamp = report["generated_at"].replace(":", "").replace("+0000", "Z")
    html_path, json_path = folder / f"{stamp}.html", folder / f"{stamp}.json"
    _atomic(json_path, json.dumps(report, ensure_ascii=False, indent=1))
    _atomic(html_path, render_html(report))
    _atomic(folder / "latest.json", json_path.read_text(encoding="utf-8"))
    _atomic(folder / "latest.html", html_path.read_text(encoding="utf-8"))
    with store.transaction():
        store.set_meta("reported_through_run", str(last_run))
    return html_path, json_path


def _atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --- HTML ------------------------------------------------------------------------------------

CSS = """
body{font-family:'Noto Sans','Segoe UI',Arial,'Noto Sans Arabic','Noto Naskh Arabic',Vazirmatn,
Tahoma,sans-serif;margin:2rem;color:#222;line-height:1.45}
:lang(fa),:lang(ar){font-family:Vazirmatn,'Noto Naskh Arabic','Noto Sans Arabic',Tahoma,
sans-serif}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin:1.6rem 0 .3rem}
table{border-collapse:collapse;margin:.3rem 0 1rem} td,th{padding:.2rem .6rem;text-align:start;
vertical-align:top} th{background:#f2f2f2} .muted{color:#666}
.kind{font-size:.8rem;padding:0 .3rem;border-radius:3px;white-space:nowrap}
.exact{background:#fbb}.near{background:#fdb}.translation{background:#bdf}.file{background:#ddd}
.lang{font-weight:600;margin-top:.4rem} td.date{white-space:nowrap}
table.timeline td{padding:1px .4rem} table.timeline caption{text-align:start;color:#666}
td.tl-label{max-width:26rem;font-size:.88rem} td.tl-plot{vertical-align:middle}
td.tl-plot svg{display:block}
rect.orig{fill:#1f4e79} rect.copy{fill:#8fb3d9} rect.filed{fill:#aaa} line.base{stroke:#ddd}
line.tick{stroke:#666} svg.axis text{font-size:11px;fill:#666}
"""


def _timeline(events: list[dict[str, Any]]) -> str:
    """One row per event (the largest TIMELINE_ROWS), named by its headline."""
    rows = [
        timeline.Row(
            e.get("title") or e["id"],
            f"#{e['id']}",
            e.get("title_lang"),
            f"{e['size']}",
            [
                timeline.Point(
                    st["published_at"] or "",
                    copy=bool(st["duplicate_of"]),
                    file_date=st.get("date_source") == "file",
                )
                for st in e["stories"]
            ],
        )
        for e in events[:TIMELINE_ROWS]
    ]
    caption = "Stories of the largest events over time"
    if len(events) > TIMELINE_ROWS:
        caption += f" ({TIMELINE_ROWS} of {len(events)} events)"
    return timeline.render(rows, caption)


def render_html(report: dict[str, Any]) -> str:
    esc = html.escape
    t = report["totals"]
    s = report["summary"]
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>khabar report {esc(report['generated_at'])}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>khabar nightly report</h1><p class='muted'>{esc(report['generated_at'])} — "
        f"home {esc(report['home'])}</p>",
        "<table><tr><th>read</th><th>new</th><th>updated</th><th>unchanged</th><th>rejected</th>"
        "<th>events</th><th>multilingual</th><th>duplicates</th></tr>",
        f"<tr><td>{s.get('read', 0)}</td><td>{s.get('new', 0)}</td><td>{s.get('updated', 0)}</td>"
        f"<td>{s.get('unchanged', 0)}</td><td>{s.get('rejected', 0)}</td><td>{t['events']}</td>"
        f"<td>{t['multilingual_events']}</td>"
        f"<td>{esc(', '.join(f'{k} {v}' for k, v in sorted(t['duplicates'].items())) or '0')}</td>"
        "</tr></table>",
        _timeline(report["events"]),
    ]
    for e in report["events"]:
        langs = ", ".join(f"{k} {v}" for k, v in sorted(e["languages"].items()))
        lang_attr = f" lang='{esc(e['title_lang'])}'" if e.get("title_lang") else ""
        out.append(
            f"<h2 id='{esc(e['id'])}'><bdi dir='{text_dir(e.get('title_lang'))}'{lang_attr}>"
            f"{esc(e.get('title') or e['id'])}"
            f"</bdi></h2><p class='muted'>{esc(e['id'])} — {e['size']} "
            f"{'story' if e['size'] == 1 else 'stories'}, {esc(langs)}, "
            f"{esc(e['first'])} to {esc(e['last'])}</p>"
        )
        by_lang: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for st in e["stories"]:
            by_lang[st["lang"]].append(st)
        for lang, stories in sorted(by_lang.items()):
            out.append(f"<div class='lang'>{esc(lang)}</div><table>")
            for st in sorted(stories, key=lambda x: (x["outlet"] or "", x["published_at"] or "")):
                kind = st["duplicate_kind"]
                dup = (
                    f"<span class='kind {esc(kind)}'>{esc(kind)} of {esc(st['duplicate_of'])}"
                    f" ({st['duplicate_score']:.2f})</span>"
                    if kind
                    else ""
                )
                title = esc(st["title"] or "")
                if st["url"]:
                    title = f"<a href='{esc(st['url'])}'>{title}</a>"
                date = esc(calendars.gregorian(st["published_at"]))
                if st.get("date_source") == "file":
                    date += f" <span class='kind file' title='{FILE_DATE_NOTE}'>file date</span>"
                out.append(
                    f"<tr><td class='muted date'>{date}</td>"
                    f"<td dir='auto'>{esc(st['outlet'] or '-')}</td>"
                    f"<td dir='{text_dir(st['lang'])}' lang='{esc(st['lang'])}'>{title}</td>"
                    f"<td class='muted'>{esc(st['id'])}</td><td>{dup}</td></tr>"
                )
            out.append("</table>")
    if report["rejections"]:
        out.append("<h2>Rejected input</h2><ul>")
        out += [f"<li>{esc(r['source'])}: {esc(r['reason'])}</li>" for r in report["rejections"]]
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out)
