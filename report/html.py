"""`--html FILE`: the dashboard as one self-contained page (inline CSS and SVG, no script).

It opens years later with no network: nothing is fetched, no font, no library. Every
title, id and referrer is what a client once sent, so every one is escaped. Each bar
carries its numbers (`data-start`, `data-total`, `data-unique` and a <title> tooltip), so
a reader, a screen reader and a test read the same figures.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date
from html import escape

from handlers.schema import MAX_WATCHED
from report import model
from report.model import By, Period, Point, ReferrerReport, Refused, Report, TargetReport

TOP_POSTS = 20
POST_CHARTS = 12
STYLE = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --total: #9ec5fe; --unique: #0b5ed7; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 64rem; padding: 1rem; color: var(--ink);
  font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h2 { font-size: 1.15rem; margin: 1.6rem 0 .5rem; }
h3 { font-size: 1rem; margin: 0 0 .3rem; overflow-wrap: anywhere; }
.period, .note { color: var(--muted); margin: 0; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: .6rem; margin: 1rem 0; }
.tile { border: 1px solid var(--line); border-radius: .5rem; padding: .5rem .75rem; }
.tile b { display: block; font-size: 1.5rem; font-variant-numeric: tabular-nums; }
.tile span { color: var(--muted); font-size: .85rem; }
figure { margin: 0; } figcaption { color: var(--muted); font-size: .85rem; }
svg.chart { width: 100%; height: auto; display: block; }
svg text { font: 18px system-ui, sans-serif; fill: var(--muted); }
.bar-total { fill: var(--total); } .bar-unique { fill: var(--unique); }
.grid { stroke: var(--line); stroke-width: 1; }
.key { display: block; }
.key i { display: inline-block; width: .8em; height: .8em; margin: 0 .25em 0 .6em; vertical-align: -.05em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; min-width: 100%; }
th, td { padding: .35rem .4rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-size: .85rem; color: var(--muted); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { overflow-wrap: anywhere; } td.name small { color: var(--muted); display: block; }
svg.spark { width: 6rem; height: 1.4rem; display: block; }
.post-charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(17rem, 1fr)); gap: 1rem; }
.post { border: 1px solid var(--line); border-radius: .5rem; padding: .6rem; }
ul.targets { margin: 0; padding-left: 1.1rem; color: var(--muted); font-size: .9rem; }
@media (max-width: 30rem) { body { padding: .6rem; } th.spark, td.spark { display: none; } }
"""


def buckets(period: Period) -> list[str]:
    """Every bucket of the period, empty ones too, as Point.start spells them."""
    days = period.days()
    return days if period.by == "day" else [f"{d}T{h:02d}:00Z" for d in days for h in range(24)]


def nice_ceiling(value: int) -> int:
    """The axis top: the smallest 1, 2 or 5 x 10^k at or above value (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _label(start: str, by: By) -> str:
    return start[5:10] if by == "day" else f"{start[5:10]} {start[11:16]}"


def bar_chart(points: Sequence[Point], period: Period, caption: str, css: str = "chart") -> str:
    """Total views per bucket as bars, unique views drawn inside them; axes labelled with the unit."""
    width, height, left, bottom, top = 600, 200, 56, 30, 12
    plot_w, plot_h = width - left - 6, height - bottom - top
    slots = buckets(period)
    values = {p.start: p for p in points}
    peak = nice_ceiling(max((p.total for p in points), default=0))
    step = plot_w / max(1, len(slots))
    gap = min(1.0, step * 0.15)
    unit = "views per day" if period.by == "day" else "views per hour"
    parts = [
        f'<svg class="{css}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(caption)}: {unit}">',
        f'<line class="grid" x1="{left}" y1="{top}" x2="{width}" y2="{top}"/>',
        f'<line class="grid" x1="{left}" y1="{top + plot_h / 2:.1f}" x2="{width}" y2="{top + plot_h / 2:.1f}"/>',
        f'<line class="grid" x1="{left}" y1="{top + plot_h}" x2="{width}" y2="{top + plot_h}"/>',
        f'<text x="{left - 6}" y="{top + 6}" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h / 2 + 6:.1f}" text-anchor="end">{peak / 2:g}</text>',
        f'<text x="{left - 6}" y="{top + plot_h + 6}" text-anchor="end">0</text>',
    ]
    for i, start in enumerate(slots):
        point = values.get(start)
        if point is None:
            continue
        x = left + i * step
        h_total, h_unique = plot_h * point.total / peak, plot_h * point.unique / peak
        parts.append(
            f'<g class="bar" data-start="{start}" data-total="{point.total}" data-unique="{point.unique}">'
            f"<title>{start}: {point.total} views, {point.unique} unique</title>"
            f'<rect class="bar-total" x="{x:.2f}" y="{top + plot_h - h_total:.2f}" '
            f'width="{step - gap:.2f}" height="{h_total:.2f}"/>'
            f'<rect class="bar-unique" x="{x:.2f}" y="{top + plot_h - h_unique:.2f}" '
            f'width="{step - gap:.2f}" height="{h_unique:.2f}"/></g>'
        )
    for i in sorted({0, len(slots) // 2, len(slots) - 1}):
        anchor = "start" if i == 0 else "end" if i == len(slots) - 1 else "middle"
        x = left + i * step + (step if anchor == "end" else step / 2 if anchor == "middle" else 0)
        parts.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="{anchor}">{_label(slots[i], period.by)}</text>')
    parts.append("</svg>")
    return (
        f"<figure>{''.join(parts)}<figcaption>{escape(caption)}; {unit} (UTC)"
        '<span class="key"><i class="bar-total" style="background:var(--total)"></i>total'
        '<i class="bar-unique" style="background:var(--unique)"></i>unique</span></figcaption></figure>'
    )


def sparkline(points: Sequence[Point], period: Period) -> str:
    """A tiny per-day bar trend for a table row (decoration: the row states the numbers)."""
    days = period.days()
    per_day = {d: 0 for d in days}
    for point in points:
        per_day[point.start[:10]] = per_day.get(point.start[:10], 0) + point.total
    peak = max(per_day.values(), default=0) or 1
    step = 100 / max(1, len(days))
    bars = "".join(
        f'<rect class="bar-unique" x="{i * step:.2f}" y="{20 - 20 * v / peak:.2f}" '
        f'width="{max(step * 0.8, 0.5):.2f}" height="{20 * v / peak:.2f}"/>'
        for i, v in enumerate(per_day[d] for d in days)
        if v
    )
    return f'<svg class="spark" viewBox="0 0 100 20" preserveAspectRatio="none" aria-hidden="true">{bars}</svg>'


def _tile(value: int, label: str, name: str) -> str:
    return f'<div class="tile" data-tile="{name}"><b>{value}</b><span>{escape(label)}</span></div>'


def _name(report: TargetReport) -> str:
    if report.target.kind == "post" and report.title:
        return f"{escape(report.title)}<small>{escape(report.target.key)}</small>"
    return escape(report.target.key)


def _before(r: TargetReport, live: bool) -> str:
    """The all-time counts the period starts from, for a live page's script (a push minus these)."""
    return f' data-before-total="{r.before[0]}" data-before-unique="{r.before[1]}"' if live else ""


def _rows(reports: Iterable[TargetReport], period: Period, kind: str, live: bool = False) -> str:
    rows = [
        f'<tr data-{kind}="{escape(r.target.key)}"{_before(r, live)}><td class="name">{_name(r)}</td>'
        f'<td class="n total">{r.total}</td><td class="n unique">{r.unique}</td>'
        f'<td class="spark">{sparkline(r.series, period)}</td></tr>'
        for r in reports
    ]
    head = '<tr><th>{}</th><th class="n">Views</th><th class="n">Unique</th><th class="spark">Per day</th></tr>'
    body = "".join(rows) or '<tr><td colspan="4">None in this period.</td></tr>'
    return f'<div class="scroll"><table class="{kind}s">{head.format(kind.title())}{body}</table></div>'


def _referrers(referrers: Sequence[ReferrerReport]) -> str:
    if not referrers:
        return '<p class="note">No referred views in this period.</p>'
    rows = "".join(
        f'<tr data-referrer="{escape(r.referrer)}"><td class="name">{escape(r.referrer)}<ul class="targets">'
        + "".join(f"<li>{t.kind} {escape(t.key)}: {v}</li>" for t, v in r.targets[:5])
        + ("<li>…</li>" if len(r.targets) > 5 else "")
        + f'</ul></td><td class="n total">{r.views}</td></tr>'
        for r in referrers
    )
    head = '<tr><th>Referrer (origin) and what it led to</th><th class="n">Views</th></tr>'
    return f'<div class="scroll"><table class="referrers">{head}{rows}</table></div>'


def _refused(refused: Refused | None, period: Period) -> str:
    """What was filtered, per reason: a small table, or why it could not be read."""
    if refused is None:
        return ""
    head = "<h2>Filtered</h2>\n"
    if refused.error:
        return f'{head}<p class="note refused-error">Refusals could not be read: {escape(refused.error)}</p>'
    rows = "".join(
        f'<tr data-reason="{reason}"><td class="name">{reason}<small>{model.refusal_group(reason)}, '
        f"{escape(model.refusal_source(reason))}</small></td>"
        f'<td class="n count">{sum(n for _, n in points)}</td>'
        f'<td class="spark">{sparkline([Point(start, n, 0) for start, n in points], period)}</td></tr>'
        for reason, points in refused.series
    )
    table = (
        '<div class="scroll"><table class="refused"><tr><th>Reason (what it stops, where)</th>'
        f'<th class="n">Refused</th><th class="spark">Per day</th></tr>{rows}</table></div>'
    )
    kept = (
        f'<p class="note">CloudWatch keeps refusals {model.REFUSALS_KEPT_DAYS} days: '
        f"none before {refused.kept_from}.</p>"
        if period.since < refused.kept_from
        else ""
    )
    note = (
        '<p class="note">Refused connections and views were not counted; a dropped referrer\'s view was. '
        "Counted per reason from log lines that hold no user agent or address.</p>"
    )
    return head + table + kept + note


def watch_list(posts: Sequence[TargetReport], pages: Sequence[TargetReport]) -> dict[str, list[str]]:
    """The `watch` message's targets for what the page lists: its pages, then its posts, 50 at most."""
    page_names = [r.target.key for r in pages][:MAX_WATCHED]
    article_ids = [r.target.key for r in posts][: MAX_WATCHED - len(page_names)]
    return {"articleIds": article_ids, "pages": page_names}


def _live(script: str, watched: dict[str, list[str]]) -> str:
    # Ids and names are what clients sent: `<` escaped keeps `</script>` out of the JSON.
    data = json.dumps(watched, ensure_ascii=False).replace("<", "\\u003c")
    return f'<script type="application/json" id="live-watch">{data}</script>\n<script>{script}</script>\n'


def render(
    report: Report, refresh_seconds: int | None = None, generated: date | None = None, live_script: str | None = None
) -> str:
    """The page; with live_script (the local /dashboard only) it carries that script, the
    targets it should watch and each row's starting counts, and reloads itself only without
    script. Without it (`--html`) the page has no script at all."""
    period = report.period
    site = report.site()
    posts = [r for r in report.posts if r.total]
    live = live_script is not None
    refresh = f'<meta http-equiv="refresh" content="{refresh_seconds}">' if refresh_seconds else ""
    if live and refresh:
        refresh = f"<noscript>{refresh}</noscript>"
    script = _live(live_script, watch_list(posts[:TOP_POSTS], report.pages)) if live_script is not None else ""
    title = f"Views on {report.stack}, {period.since} to {period.until}"
    post_charts = "".join(
        f'<div class="post" data-post="{escape(r.target.key)}"><h3>{escape(r.title or r.target.key)}</h3>'
        f"{bar_chart(r.series, period, f'{r.total} views, {r.unique} unique', 'chart post-chart')}</div>"
        for r in posts[:POST_CHARTS]
    )
    made = f" Made {generated}." if generated else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">{refresh}
<title>{escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>Views on {escape(report.stack)}</h1>
<p class="period">From {period.since} to {period.until}, UTC, both days included.{made}</p>
<div class="tiles">{_tile(sum(p.total for p in site), "views", "views")}
{_tile(sum(p.unique for p in site), "unique views", "unique")}{_tile(len(posts), "posts viewed", "posts")}
{_tile(sum(r.views for r in report.referrers), "views from referrers", "referred")}</div>
<h2>The whole site</h2>
{bar_chart(site, period, "All posts and pages", "chart site-chart")}
<h2>Top posts</h2>
{_rows(posts[:TOP_POSTS], period, "post", live)}
<h2>Posts over time</h2>
<div class="post-charts">{post_charts or '<p class="note">No post views in this period.</p>'}</div>
<h2>Pages</h2>
{_rows(report.pages, period, "page", live)}
<h2>Referrers</h2>
{_referrers(report.referrers)}
{_refused(report.refused, period)}
<p class="note">Counts are exact views, not people: no cookies, addresses or user agents are kept.
Unique views exclude reloads. Referrers are counted by origin only.</p>
{script}</body></html>
"""
