"""The terminal summary: top posts, pages and referrers, aligned, with a per-day trend."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence

from report import model
from report.model import Point, Refused, Report

TOP = 10
TARGETS_PER_REFERRER = 3
TREND_WIDTH = 30
BARS = "▁▂▃▄▅▆▇█"
NAME_WIDTH = 44


def daily(points: Iterable[Point]) -> dict[str, int]:
    """Total views per day, whatever the report's buckets."""
    days: dict[str, int] = defaultdict(int)
    for point in points:
        days[point.start[:10]] += point.total
    return days


def trend(per_day: dict[str, int], days: Sequence[str], width: int = TREND_WIDTH) -> str:
    """A sparkline of the period, one character per day (days grouped when there are more than `width`)."""
    size = -(-len(days) // width) if days else 1
    groups = [sum(per_day.get(d, 0) for d in days[i : i + size]) for i in range(0, len(days), size)]
    peak = max(groups, default=0)
    return "".join(" " if not v else BARS[min(len(BARS) - 1, (v * len(BARS) - 1) // peak)] for v in groups)


def clean(text: str) -> str:
    """Titles and ids are what clients sent: no control or format characters reach the terminal."""
    return "".join(c if unicodedata.category(c) not in ("Cc", "Cf") else "?" for c in text)


def fit(text: str, width: int = NAME_WIDTH) -> str:
    text = clean(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def summary(report: Report) -> str:
    period = report.period
    days = period.days()
    lines = [
        f"Stack {report.stack}: views from {period.since} to {period.until} (UTC, both days included)",
        "",
    ]
    site = report.site()
    site_total, site_unique = sum(p.total for p in site), sum(p.unique for p in site)
    head = f"{'':<{NAME_WIDTH}} {'total':>9} {'unique':>9}  trend, one mark per day"
    lines += [
        head.replace(" " * 4, "Site", 1),
        f"{'all posts and pages':<{NAME_WIDTH}} {site_total:>9} {site_unique:>9}  {trend(daily(site), days)}",
        "",
    ]
    posts = [r for r in report.posts if r.total][:TOP]
    lines.append(f"{f'Top posts ({len(posts)} of {len(report.posts)})':<{NAME_WIDTH}} {'total':>9} {'unique':>9}")
    for r in posts:
        name = f"{r.title} ({r.target.key})" if r.title else r.target.key
        lines.append(f"{fit(name):<{NAME_WIDTH}} {r.total:>9} {r.unique:>9}  {trend(daily(r.series), days)}")
    if not posts:
        lines.append("  no post views in this period")
    lines += ["", f"{'Pages':<{NAME_WIDTH}} {'total':>9} {'unique':>9}"]
    for r in report.pages:
        lines.append(f"{fit(r.target.key):<{NAME_WIDTH}} {r.total:>9} {r.unique:>9}  {trend(daily(r.series), days)}")
    if not report.pages:
        lines.append("  no pages counted yet")
    referrers = report.referrers[:TOP]
    lines += ["", f"{f'Top referrers ({len(referrers)} of {len(report.referrers)})':<{NAME_WIDTH}} {'views':>9}"]
    for ref in referrers:
        per_day = dict(ref.days)
        lines.append(f"{fit(ref.referrer):<{NAME_WIDTH}} {ref.views:>9} {'':>9}  {trend(per_day, days)}")
        for target, views in ref.targets[:TARGETS_PER_REFERRER]:
            lines.append(f"{fit('  -> ' + target.kind + ' ' + target.key):<{NAME_WIDTH}} {views:>9}")
    if not referrers:
        lines.append("  no referred views in this period")
    if report.refused is not None:
        lines += ["", *filtered(report.refused, days)]
    return "\n".join(lines) + "\n"


GROUP_TITLES = {
    "connections": "Connections refused",
    "views": "Views refused (not counted)",
    "referrers": "Referrers dropped (their views counted)",
}


def filtered(refused: Refused, days: Sequence[str]) -> list[str]:
    """Refusals per reason (totals and a trend), then per day, or why they could not be read."""
    head = f"{'Filtered (CloudWatch Refused, per reason)':<{NAME_WIDTH}} {'refused':>9}"
    if refused.error:
        return [head, f"  could not be read: {refused.error}", "  (the views above are complete; refusals not shown)"]
    lines = [head]
    group = ""
    for reason, points in refused.series:
        if model.refusal_group(reason) != group:
            group = model.refusal_group(reason)
            lines.append(f"  {GROUP_TITLES[group]}")
        per_day = daily(Point(start, n, 0) for start, n in points)
        name = f"    {reason} ({model.refusal_source(reason)})"
        lines.append(f"{name:<{NAME_WIDTH}} {sum(per_day.values()):>9} {'':>9}  {trend(per_day, days)}")
    if days and days[0] < refused.kept_from.isoformat():
        lines.append(f"  CloudWatch keeps {model.REFUSALS_KEPT_DAYS} days: none can show before {refused.kept_from}")
    reasons = [reason for reason, _ in refused.series]
    by_day: dict[str, dict[str, int]] = defaultdict(dict)
    for reason, points in refused.series:
        for day, n in daily(Point(start, n, 0) for start, n in points).items():
            by_day[day][reason] = n
    if not by_day:
        lines.append("  nothing refused in this period")
        return lines
    width = max(len(r) for r in reasons) + 1
    lines += ["", "Refused per day " + "".join(f"{r:>{width}}" for r in reasons)]
    for day in sorted(by_day):
        lines.append(f"{day:<16}" + "".join(f"{by_day[day].get(r, 0):>{width}}" for r in reasons))
    return lines
