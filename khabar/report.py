"""The nightly report: the events the run touched, as a JSON file and an HTML page.

Written into HOME/reports/ after the run has committed, named by the run's time, with
`latest.html` and `latest.json` beside them. The HTML is one self-contained file (inline
CSS and an SVG timeline), readable offline and with right-to-left headlines set `dir=auto`.
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

MAX_EVENTS = 200  # events listed in full; the counts cover all of them
FILE_DATE_NOTE = "no date in the text or metadata: the date of the file"


def run_events(store: Store, ids: list[str], limit: int = MAX_EVENTS) -> list[dict[str, Any]]:
    """The given events (those that received stories in the run), largest first."""
    events = []
    for eid in ids:
        stories = store.event_stories(eid)
        events.append(
            {
                "id": eid,
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
body{font-family:system-ui,'Vazirmatn','Noto Naskh Arabic',sans-serif;margin:2rem;color:#222}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin:1.6rem 0 .3rem}
table{border-collapse:collapse;margin:.3rem 0 1rem} td,th{padding:.2rem .6rem;text-align:start}
th{background:#f2f2f2} .muted{color:#777} .kind{font-size:.8rem;padding:0 .3rem;border-radius:3px}
.exact{background:#fbb}.near{background:#fdb}.translation{background:#bdf}
.lang{font-weight:600;margin-top:.4rem}
"""


def _timeline(events: list[dict[str, Any]], width: int = 720, row: int = 16) -> str:
    """One row per event (the 30 largest): a bar per day with stories, height by count."""
    shown = events[:30]
    days = sorted({(s["published_at"] or "")[:10] for e in shown for s in e["stories"]} - {""})
    if not days:
        return ""
    from datetime import date

    d0, d1 = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    span = max((d1 - d0).days, 1)
    label_w = 140
    plot_w = width - label_w - 10
    height = row * len(shown) + 30
    parts = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for i, e in enumerate(shown):
        y = 10 + i * row
        parts.append(f'<text x="0" y="{y + 11}" font-size="11">{html.escape(e["id"])}</text>')
        per_day: dict[str, int] = defaultdict(int)
        for s in e["stories"]:
            if s["published_at"]:
                per_day[s["published_at"][:10]] += 1
        for day, n in per_day.items():
            x = label_w + plot_w * (date.fromisoformat(day) - d0).days / span
            h = min(row - 2, 3 + 2 * n)
            parts.append(
                f'<rect x="{x:.1f}" y="{y + row - 2 - h}" width="6" height="{h}" fill="#3b6ea8">'
                f"<title>{day}: {n}</title></rect>"
            )
    parts.append(
        f'<text x="{label_w}" y="{height - 4}" font-size="11">{d0}</text>'
        f'<text x="{width - 80}" y="{height - 4}" font-size="11">{d1}</text></svg>'
    )
    return "".join(parts)


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
        out.append(
            f"<h2 id='{esc(e['id'])}'>{esc(e['id'])} <span class='muted'>— {e['size']} stories, "
            f"{esc(langs)}, {esc(e['first'])} to {esc(e['last'])}</span></h2>"
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
                date = esc((st["published_at"] or "-")[:10])
                if st.get("date_source") == "file":
                    date += f" <span class='kind' title='{FILE_DATE_NOTE}'>file date</span>"
                out.append(
                    f"<tr><td class='muted'>{date}</td>"
                    f"<td>{esc(st['outlet'] or '-')}</td><td dir='auto'>{title}</td>"
                    f"<td class='muted'>{esc(st['id'])}</td><td>{dup}</td></tr>"
                )
            out.append("</table>")
    if report["rejections"]:
        out.append("<h2>Rejected input</h2><ul>")
        out += [f"<li>{esc(r['source'])}: {esc(r['reason'])}</li>" for r in report["rejections"]]
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out)
