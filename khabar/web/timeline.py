"""A timeline as HTML: one row per event (or language), bars per hour, day, week or month.

Shared by the event pages and the nightly report. The unit follows the span, so one day of
news reads by hour and a year by week; bar heights are counts on one scale for all rows,
copies (duplicates) are stacked in a lighter shade above the originals, and a story whose
date is its file's time is drawn apart (grey): it is not a publication time. Labels are HTML
cells with `dir="auto"` (right-to-left headlines stay readable), the bars inline SVG with a
`<title>` per bar, so it needs no script and no network.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from khabar.views import text_dir

PLOT_W = 560  # px of the bar area
ROW_H = 22
AXIS_H = 30
MAX_BUCKETS = 200


@dataclass
class Point:
    when: str  # ISO date or datetime, as stored
    copy: bool = False  # a duplicate of another story
    file_date: bool = False  # the date is the file's time


@dataclass
class Row:
    label: str
    href: str | None = None
    lang: str | None = None  # for the label's markup (lang attribute: the font for its script)
    note: str = ""  # shown after the label, muted (e.g. "12 stories")
    points: list[Point] = field(default_factory=list)


def _moment(value: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(value if len(value) > 10 else value + "T00:00:00")
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


@dataclass
class Scale:
    """Buckets of one unit from `start`; `unit` is hour, day, week or month."""

    unit: str
    start: datetime
    count: int

    @classmethod
    def of(cls, moments: list[datetime]) -> Scale:
        lo, hi = min(moments), max(moments)
        span = hi - lo
        if span <= timedelta(days=2):
            unit, start = "hour", lo.replace(minute=0, second=0, microsecond=0)
        elif span <= timedelta(days=120):
            unit, start = "day", lo.replace(hour=0, minute=0, second=0, microsecond=0)
        elif span <= timedelta(days=3 * 365):
            day = lo.replace(hour=0, minute=0, second=0, microsecond=0)
            unit, start = "week", day - timedelta(days=day.weekday())
        else:
            unit, start = "month", lo.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        scale = cls(unit, start, 1)
        scale.count = min(scale.bucket(hi) + 1, MAX_BUCKETS)
        return scale

    def bucket(self, when: datetime) -> int:
        if self.unit == "month":
            return (when.year - self.start.year) * 12 + when.month - self.start.month
        step = {"hour": 3600, "day": 86400, "week": 7 * 86400}[self.unit]
        return int((when - self.start).total_seconds() // step)

    def begins(self, i: int) -> datetime:
        if self.unit == "month":
            y, m = divmod(self.start.month - 1 + i, 12)
            return self.start.replace(year=self.start.year + y, month=m + 1)
        step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}
        return self.start + step[self.unit] * i

    def label(self, i: int, first: bool) -> str:
        when = self.begins(i)
        if self.unit == "hour":
            return when.strftime("%Y-%m-%d %H:00" if first or when.hour == 0 else "%H:00")
        if self.unit == "month":
            return when.strftime("%Y-%m")
        new_year = when.month == 1 and when.day <= 7
        return when.strftime("%Y-%m-%d" if first or new_year else "%m-%d")

    def describe(self, i: int) -> str:
        when = self.begins(i)
        if self.unit == "hour":
            return when.strftime("%Y-%m-%d %H:00-%H:59 UTC")
        if self.unit == "day":
            return when.strftime("%Y-%m-%d")
        if self.unit == "week":
            return "week of " + when.strftime("%Y-%m-%d")
        return when.strftime("%Y-%m")


def _ticks(scale: Scale, target: int = 7) -> list[int]:
    step = max(1, round(scale.count / target))
    if scale.unit == "hour" and scale.count > 8:
        step = max(step, 3)
    return list(range(0, scale.count, step))


def render(rows: Iterable[Row], caption: str = "") -> str:
    """The timeline as an HTML table, or '' when no row has a dated story."""
    rows = [r for r in rows]
    parsed = [
        [(m, p) for p in r.points if p.when and (m := _moment(p.when)) is not None] for r in rows
    ]
    moments = [m for ps in parsed for m, _ in ps]
    if not moments:
        return ""
    scale = Scale.of(moments)
    bar_w = PLOT_W / scale.count
    counts: list[dict[int, list[int]]] = []
    for ps in parsed:
        per: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # originals, copies, file
        for m, p in ps:
            b = min(max(scale.bucket(m), 0), scale.count - 1)
            per[b][2 if p.file_date else 1 if p.copy else 0] += 1
        counts.append(per)
    top = max((sum(c) for per in counts for c in per.values()), default=1)
    esc = html.escape
    out = [f"<table class='timeline'><caption>{esc(caption)} (by {scale.unit})</caption>"]
    for row, per in zip(rows, counts, strict=True):
        label = esc(row.label or "-")
        if row.href:
            label = f"<a href='{esc(row.href)}'>{label}</a>"
        lang = f" lang='{esc(row.lang)}'" if row.lang else ""
        direction = text_dir(row.lang)
        note = f" <span class='muted'>{esc(row.note)}</span>" if row.note else ""
        bars = []
        for b, (orig, copies, filed) in sorted(per.items()):
            x = b * bar_w
            w = max(bar_w - 1, 2)
            y = ROW_H - 1
            n = orig + copies + filed
            for value, cls in ((orig, "orig"), (copies, "copy"), (filed, "filed")):
                if not value:
                    continue
                h = max(2.0, (ROW_H - 3) * value / top)
                y -= h
                bars.append(
                    f"<rect class='{cls}' x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' "
                    f"height='{h:.1f}'><title>{esc(scale.describe(b))}: {n} "
                    f"{'story' if n == 1 else 'stories'}"
                    f"{f', {copies} copies' if copies else ''}"
                    f"{f', {filed} dated by file' if filed else ''}</title></rect>"
                )
        out.append(
            f"<tr><td class='tl-label' dir='{direction}'><bdi dir='{direction}'{lang}>{label}</bdi>"
            f"{note}</td>"
            f"<td class='tl-plot'><svg width='{PLOT_W}' height='{ROW_H}' "
            f"viewBox='0 0 {PLOT_W} {ROW_H}' role='img'>"
            f"<line class='base' x1='0' y1='{ROW_H - 0.5}' x2='{PLOT_W}' y2='{ROW_H - 0.5}'/>"
            f"{''.join(bars)}</svg></td></tr>"
        )
    ticks = []
    for n, i in enumerate(_ticks(scale)):
        x = i * bar_w
        ticks.append(
            f"<line class='tick' x1='{x:.1f}' y1='0' x2='{x:.1f}' y2='6'/>"
            f"<text x='{x + 2:.1f}' y='18'>{esc(scale.label(i, n == 0))}</text>"
        )
    out.append(
        f"<tr><td></td><td class='tl-plot'><svg width='{PLOT_W + 80}' height='{AXIS_H}' "
        f"viewBox='0 0 {PLOT_W + 80} {AXIS_H}' class='axis'>{''.join(ticks)}</svg></td></tr>"
        "</table>"
    )
    return "".join(out)
