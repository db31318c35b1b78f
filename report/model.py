"""The report's pure core: Series snapshots -> views per bucket -> the report's document.

The Series table (issue 13, `<stack>-Series`) keeps monotone snapshots, not deltas: per post
or page and UTC hour the highest running all-time total seen that hour, per referrer, target
and UTC day the highest running total of that referrer row. So the views of a bucket are its
snapshot minus the snapshot before it (of the same key, or the same referrer and target),
and the views of a period start from the latest snapshot before it. Nothing here does I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, NamedTuple

from handlers.filtered import EVENTS, METRIC, REASON_DIMENSION, REASONS, SOURCES, Reason, metric_namespace

By = Literal["day", "hour"]
Kind = Literal["post", "page"]

# Series keys and buckets, as the series consumer writes them (DESIGN.md, "Series table").
POST_PREFIX = "post#"
PAGE_PREFIX = "page#"
REFERRER_PREFIX = "ref#"
# A day's referrer buckets are `<day>#<kind>#<id>`; '$' sorts right after '#', so
# `<until>$` bounds every target of the last day.
_AFTER_DAY_TARGETS = "$"


@dataclass(frozen=True)
class Period:
    since: date
    until: date
    """Inclusive, UTC."""
    by: By = "day"

    @property
    def first_hour(self) -> str:
        return f"{self.since.isoformat()}T00"

    @property
    def last_hour(self) -> str:
        return f"{self.until.isoformat()}T23"

    @property
    def first_day(self) -> str:
        return self.since.isoformat()

    @property
    def after_last_day(self) -> str:
        """An upper bound for every referrer bucket of `until` (BETWEEN is inclusive)."""
        return self.until.isoformat() + _AFTER_DAY_TARGETS

    def days(self) -> list[str]:
        return [(self.since + timedelta(days=n)).isoformat() for n in range((self.until - self.since).days + 1)]


def default_period(today: date, days: int = 30, by: By = "day") -> Period:
    """The last `days` days, today included."""
    return Period(today - timedelta(days=days - 1), today, by)


class Snapshot(NamedTuple):
    """A Series item of a post or page: running all-time totals at the end of an hour.

    A tuple, not a frozen dataclass: a long report makes hundreds of thousands of them.
    """

    bucket: str
    """UTC hour, `2026-11-29T14`."""
    total: int
    unique: int


@dataclass(frozen=True)
class RefSnapshot:
    """A Series item of a referrer: the running total of one (referrer, target) on one day."""

    day: str
    target: Target
    views: int


@dataclass(frozen=True, order=True)
class Target:
    kind: Kind
    key: str
    """articleId or page name."""

    @property
    def series_key(self) -> str:
        return f"{self.kind}#{self.key}"


@dataclass(frozen=True)
class Point:
    start: str
    """`2026-11-29` by day, `2026-11-29T14:00Z` by hour."""
    total: int
    unique: int


@dataclass(frozen=True)
class TargetReport:
    target: Target
    title: str | None
    """Posts only: the stored title."""
    total: int
    unique: int
    series: tuple[Point, ...]
    """Only buckets with views, oldest first."""
    before: tuple[int, int] = (0, 0)
    """(total, unique) all-time before the period: the snapshot it starts from. A live
    all-time count minus these is the period's figure (the local dashboard's pushes)."""


@dataclass(frozen=True)
class ReferrerReport:
    referrer: str
    views: int
    targets: tuple[tuple[Target, int], ...]
    """Most views first."""
    days: tuple[tuple[str, int], ...]
    """(day, views) with views, oldest first."""


@dataclass(frozen=True)
class Report:
    stack: str
    period: Period
    posts: tuple[TargetReport, ...]
    pages: tuple[TargetReport, ...]
    referrers: tuple[ReferrerReport, ...]
    refused: Refused | None = None
    """What was filtered (CloudWatch `Refused`); None when not read (the local dashboard)."""

    def site(self) -> tuple[Point, ...]:
        """Every post's and page's views added up per bucket: the site's views over time."""
        return add_series(r.series for r in (*self.posts, *self.pages))


# ---- snapshots -> views ------------------------------------------------------------


def hourly_views(before: Snapshot | None, snapshots: Iterable[Snapshot]) -> list[tuple[str, int, int]]:
    """(hour, total, unique) views per hour of a key: each snapshot minus the highest before it.

    Snapshots only grow when the consumer keeps its contract; against the highest earlier
    one rather than the previous, a lower snapshot (an out-of-order write) adds nothing and
    cannot make a later hour count twice, so the views always sum to the last highest
    snapshot minus the one before the period.
    """
    best_total = before.total if before else 0
    best_unique = before.unique if before else 0
    views: list[tuple[str, int, int]] = []
    for snap in sorted(snapshots, key=lambda s: s.bucket):
        total, unique = max(0, snap.total - best_total), max(0, snap.unique - best_unique)
        best_total, best_unique = max(best_total, snap.total), max(best_unique, snap.unique)
        if total or unique:
            views.append((snap.bucket, total, unique))
    return views


def bucket_start(hour: str, by: By) -> str:
    """`2026-11-29T14` -> `2026-11-29` by day, `2026-11-29T14:00Z` by hour."""
    return hour[:10] if by == "day" else f"{hour}:00Z"


def to_points(views: Iterable[tuple[str, int, int]], by: By) -> tuple[Point, ...]:
    """Hourly views added up into the period's buckets, oldest first, empty buckets left out."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for hour, total, unique in views:
        cell = sums[bucket_start(hour, by)]
        cell[0] += total
        cell[1] += unique
    return tuple(Point(start, t, u) for start, (t, u) in sorted(sums.items()) if t or u)


def add_series(series: Iterable[Iterable[Point]]) -> tuple[Point, ...]:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for points in series:
        for point in points:
            sums[point.start][0] += point.total
            sums[point.start][1] += point.unique
    return tuple(Point(start, t, u) for start, (t, u) in sorted(sums.items()))


def target_report(
    target: Target, title: str | None, points: tuple[Point, ...], before: Snapshot | None = None
) -> TargetReport:
    total, unique = sum(p.total for p in points), sum(p.unique for p in points)
    return TargetReport(target, title, total, unique, points, (before.total, before.unique) if before else (0, 0))


_ZERO = {"N": "0"}


def item_points(before: Snapshot | None, items: Iterable[Mapping[str, Any]], by: By) -> tuple[Point, ...]:
    """to_points(hourly_views(before, map(snapshot, items)), by), for Series items in bucket
    order (a Query's, oldest first), in one pass.

    The report's hot loop: a 30-day report of 500 posts walks 360,000 items. The same rule,
    each hour against the highest snapshot before it, without a Snapshot or a list per hour
    (tests/test_report_model.py holds the two to the same answers).
    """
    best_total = before.total if before else 0
    best_unique = before.unique if before else 0
    cut = 10 if by == "day" else 13
    sums: dict[str, list[int]] = {}
    for item in items:
        snap_total = int(item.get("totalViews", _ZERO)["N"])
        snap_unique = int(item.get("uniqueViews", _ZERO)["N"])
        total, unique = snap_total - best_total, snap_unique - best_unique
        if total <= 0 and unique <= 0:
            continue
        if total > 0:
            best_total = snap_total
        else:
            total = 0
        if unique > 0:
            best_unique = snap_unique
        else:
            unique = 0
        start = str(item["bucket"]["S"])[:cut]
        cell = sums.get(start)
        if cell is None:
            sums[start] = [total, unique]
        else:
            cell[0] += total
            cell[1] += unique
    suffix = "" if by == "day" else ":00Z"
    return tuple(Point(start + suffix, t, u) for start, (t, u) in sorted(sums.items()))


def referrer_views(before: Mapping[Target, int], snapshots: Iterable[RefSnapshot]) -> list[tuple[str, Target, int]]:
    """(day, target, views) of one referrer: per target, each day's snapshot minus the highest earlier."""
    best = dict(before)
    views: list[tuple[str, Target, int]] = []
    for snap in sorted(snapshots, key=lambda s: (s.day, s.target)):
        held = best.get(snap.target, 0)
        if snap.views > held:
            views.append((snap.day, snap.target, snap.views - held))
            best[snap.target] = snap.views
    return views


def referrer_report(referrer: str, before: Mapping[Target, int], snapshots: Iterable[RefSnapshot]) -> ReferrerReport:
    per_target: dict[Target, int] = defaultdict(int)
    per_day: dict[str, int] = defaultdict(int)
    for day, target, views in referrer_views(before, snapshots):
        per_target[target] += views
        per_day[day] += views
    targets = tuple(sorted(per_target.items(), key=lambda tv: (-tv[1], tv[0])))
    return ReferrerReport(referrer, sum(per_target.values()), targets, tuple(sorted(per_day.items())))


def by_views(reports: Iterable[TargetReport]) -> tuple[TargetReport, ...]:
    """Most total views first, then most unique, then by id: a total, stable order."""
    return tuple(sorted(reports, key=lambda r: (-r.total, -r.unique, r.target.key)))


def referrers_by_views(reports: Iterable[ReferrerReport]) -> tuple[ReferrerReport, ...]:
    """Referrers with views in the period, most first."""
    return tuple(sorted((r for r in reports if r.views), key=lambda r: (-r.views, r.referrer)))


# ---- Series items (DynamoDB attribute values) -> snapshots ---------------------------


def _number(item: Mapping[str, Any], name: str) -> int:
    value = item.get(name, {}).get("N")
    return int(value) if value is not None else 0


def snapshot(item: Mapping[str, Any]) -> Snapshot:
    return Snapshot(str(item["bucket"]["S"]), _number(item, "totalViews"), _number(item, "uniqueViews"))


def parse_target(text: str, separator: str) -> Target | None:
    """`post#hello` (Series) or `post:hello` (Referrer table) -> Target; None for anything else."""
    kind, sep, key = text.partition(separator)
    if not sep or not key or kind not in ("post", "page"):
        return None
    return Target("post" if kind == "post" else "page", key)


def ref_snapshot(item: Mapping[str, Any]) -> RefSnapshot | None:
    """A referrer's Series item; None when its bucket is not `<day>#<kind>#<id>`."""
    day, sep, rest = str(item["bucket"]["S"]).partition("#")
    target = parse_target(rest, "#") if sep else None
    return None if target is None else RefSnapshot(day, target, _number(item, "views"))


# ---- the documented JSON (ARCHITECTURE.md 3.5) ---------------------------------------


def _points_json(points: Sequence[Point]) -> list[dict[str, Any]]:
    return [{"start": p.start, "totalViews": p.total, "uniqueViews": p.unique} for p in points]


def _target_json(target: Target) -> dict[str, str]:
    return {"articleId": target.key} if target.kind == "post" else {"page": target.key}


def document(report: Report) -> dict[str, Any]:
    return {
        "stack": report.stack,
        "since": report.period.since.isoformat(),
        "until": report.period.until.isoformat(),
        "by": report.period.by,
        "posts": [
            {
                "articleId": r.target.key,
                "articleTitle": r.title or "",
                "totalViews": r.total,
                "uniqueViews": r.unique,
                "series": _points_json(r.series),
            }
            for r in report.posts
        ],
        "pages": [
            {"page": r.target.key, "totalViews": r.total, "uniqueViews": r.unique, "series": _points_json(r.series)}
            for r in report.pages
        ],
        "referrers": [
            {
                "referrer": r.referrer,
                "views": r.views,
                "targets": [{**_target_json(t), "views": v} for t, v in r.targets],
            }
            for r in report.referrers
        ],
        "refused": refused_json(report.refused),
    }


# ---- what was filtered: the CloudWatch metric `Refused` per reason (handlers/filtered.py) ----

REFUSALS_KEPT_DAYS = 455
"""CloudWatch keeps 1-hour data points 455 days (15 months); daily sums are made from them."""
GROUPS: dict[str, str] = {"connect_refused": "connections", "view_refused": "views", "referrer_dropped": "referrers"}
"""What a refusal's log event stops: handlers/filtered.EVENTS is the one list of reasons."""
NOT_READ = "not read"


def refusal_group(reason: Reason) -> str:
    """`connections` (bot, origin: refused at $connect), `views` (budget, unsigned) or `referrers`."""
    return GROUPS[EVENTS[reason]]


def refusal_source(reason: Reason) -> str:
    """Where it is refused: `$connect` or the `views` route (handlers/filtered.SOURCES)."""
    return "$connect" if SOURCES[reason] == "connect" else SOURCES[reason]


@dataclass(frozen=True)
class Refused:
    """Refusals per reason in the report's period, or why they could not be read."""

    kept_from: date
    """The first whole UTC day CloudWatch still holds; earlier days show none."""
    series: tuple[tuple[Reason, tuple[tuple[str, int], ...]], ...] = ()
    """Every reason of REASONS in order, each with its buckets that had refusals, oldest first."""
    error: str | None = None
    """Why the refusals could not be read (then `series` is empty: never a silent zero)."""

    def totals(self) -> dict[Reason, int]:
        return {reason: sum(n for _, n in points) for reason, points in self.series}


def refusals_kept_from(today: date) -> date:
    return today - timedelta(days=REFUSALS_KEPT_DAYS - 1)


def refusal_window(period: Period, kept_from: date) -> tuple[datetime, datetime] | None:
    """GetMetricData's [StartTime, EndTime): the period's UTC days, from what CloudWatch still keeps.

    Both ends fall on midnight UTC, so CloudWatch's buckets (aligned to StartTime) are the
    report's days or hours. None when the whole period is older than what is kept.
    """
    first = max(period.since, kept_from)
    if first > period.until:
        return None
    start = datetime.combine(first, time(), UTC)
    return start, datetime.combine(period.until + timedelta(days=1), time(), UTC)


def refusal_queries(stack: str, by: By) -> list[dict[str, Any]]:
    """One MetricDataQuery per reason: the Sum of `Refused` per day (86400 s) or hour (3600 s)."""
    namespace = metric_namespace(stack)
    return [
        {
            "Id": f"r{i}",  # Ids must start with a lowercase letter; the index maps back to the reason
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": METRIC,
                    "Dimensions": [{"Name": REASON_DIMENSION, "Value": reason}],
                },
                "Period": 86400 if by == "day" else 3600,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
        for i, reason in enumerate(REASONS)
    ]


def refused_from_results(results: Iterable[Mapping[str, Any]], period: Period, kept_from: date) -> Refused:
    """GetMetricData's MetricDataResults (every page) -> refusals per reason and bucket.

    Pages split a query's data points, never repeat one; a point outside the period (a
    bucket CloudWatch starts at EndTime) is left out.
    """
    first, last = period.since.isoformat(), period.until.isoformat()
    per_reason: dict[Reason, dict[str, int]] = {reason: {} for reason in REASONS}
    for result in results:
        index = str(result.get("Id", ""))[1:]
        if not index.isdigit() or int(index) >= len(REASONS):
            continue
        reason = REASONS[int(index)]
        status = result.get("StatusCode", "Complete")
        if status not in ("Complete", "PartialData"):  # PartialData: the rest follows NextToken
            # InternalError or Forbidden: the values may be missing some points, so none are shown.
            return Refused(kept_from, error=f"CloudWatch answered {status} for reason {reason}")
        for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
            at = stamp.astimezone(UTC)
            start = at.date().isoformat() if period.by == "day" else at.strftime("%Y-%m-%dT%H:00Z")
            count = round(float(value))
            if first <= start[:10] <= last and count > 0:
                per_reason[reason][start] = count
    series = tuple((reason, tuple(sorted(per_reason[reason].items()))) for reason in REASONS)
    return Refused(kept_from, series)


def refused_json(refused: Refused | None) -> dict[str, Any]:
    if refused is None:
        return {"error": NOT_READ, "keptFrom": None, "reasons": []}
    return {
        "error": refused.error,
        "keptFrom": refused.kept_from.isoformat(),
        "reasons": [
            {
                "reason": reason,
                "group": refusal_group(reason),
                "count": sum(n for _, n in points),
                "series": [{"start": start, "count": n} for start, n in points],
            }
            for reason, points in refused.series
        ],
    }
