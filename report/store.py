"""The report's reads: the only module that talks to DynamoDB on the read side.

What exists comes from the count tables, one row per post, page and referrer-target, so
a Scan of them costs what the blog has, not its history. Series is read only by Query:
per key the period's buckets and the latest snapshot before them (Limit=1, backwards), and
only the attributes the report uses. Every output draws the site's trend, the sum of every
post's and page's days, so every key's hours in the period are read; a post's days from
day-boundary reads instead would take 31 queries a post, each costing more than its 24
items. Queries run in a few threads (one boto3 client is safe to share between threads once
made).
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TextIO

import boto3
from botocore.config import Config
from botocore.credentials import Credentials

from handlers.top_posts import scan
from handlers.wiring import HOME_AND_PROFILE, POST_COUNT_READER, REFERRER, SERIES
from report import model
from report.model import Period, RefSnapshot, Report, Target
from report.settings import EMULATOR_CREDENTIALS, StackSettings

WORKERS = 8
PROGRESS_AFTER_SECONDS = 1.0
PROGRESS_EVERY_SECONDS = 0.5

Item = dict[str, Any]


def client(settings: StackSettings, workers: int = WORKERS) -> Any:
    """A DynamoDB client with the caller's credentials (the emulator's fake ones if they have none)."""
    session = boto3.session.Session(region_name=settings.region)
    credentials: Credentials | None = session.get_credentials()
    extra = EMULATOR_CREDENTIALS if settings.endpoint_url and credentials is None else {}
    config = Config(max_pool_connections=workers + 2, retries={"mode": "standard", "max_attempts": 5})
    ddb = session.client("dynamodb", endpoint_url=settings.endpoint_url, config=config, **extra)
    ddb.meta.events.register("before-parse.dynamodb.Query", plain_json_query)
    return ddb


def plain_json_query(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """A Query answer taken as DynamoDB's JSON, not walked through botocore's model.

    botocore parses every attribute value of every item through the service model, which
    was most of the report's time over a long period (bench/series_report.py: about 40 us
    an item, 360,000 items for 500 posts over 30 days). For S and N values, all that Series
    and the count tables hold, DynamoDB's JSON already has the shape the parser would
    produce (numbers stay strings), so a successful answer is decoded once with the json
    module and botocore parses an empty body. Errors keep botocore's handling.
    """
    if response_dict.get("status_code") != HTTPStatus.OK:
        return
    customized_response_dict.update(json.loads(response_dict["body"]))
    response_dict["body"] = b"{}"


@dataclass
class Progress:
    """`report: read 120/1000 series` on stderr, only once reading has taken more than a moment."""

    total: int
    out: TextIO = field(default_factory=lambda: sys.stderr)
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    shown: bool = False

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.last = self.started

    def step(self) -> None:
        self.done += 1
        now = self.clock()
        if now - self.started >= PROGRESS_AFTER_SECONDS and (
            now - self.last >= PROGRESS_EVERY_SECONDS or self.done == self.total
        ):
            self.last = now
            self.shown = True
            end = "\n" if self.done == self.total or not self.out.isatty() else ""
            self.out.write(f"\rreport: read {self.done}/{self.total} series{end}")
            self.out.flush()

    def finish(self) -> None:
        if self.shown and self.done != self.total:
            self.out.write("\n")


def paged(call: Callable[..., Any], kwargs: dict[str, Any], pages: int | None = None) -> Iterator[Item]:
    """The items of a Query, page after page (at most `pages` pages)."""
    while True:
        response = call(**kwargs)
        yield from response.get("Items", [])
        if pages is not None:
            pages -= 1
        if "LastEvaluatedKey" not in response or pages == 0:
            return
        kwargs = {**kwargs, "ExclusiveStartKey": response["LastEvaluatedKey"]}


TARGET_ATTRIBUTES = "#b, totalViews, uniqueViews"
REFERRER_ATTRIBUTES = "#b, #v"
"""Only what the report uses comes back (the key repeated in every item was a quarter of
the bytes to decode); DynamoDB bills the whole item read all the same."""
_NAMES = {"#b": "bucket"}
_REFERRER_NAMES = {"#b": "bucket", "#v": "views"}  # DynamoDB refuses names an expression leaves unused


def _projection(attributes: str) -> dict[str, Any]:
    names = _REFERRER_NAMES if attributes == REFERRER_ATTRIBUTES else _NAMES
    return {"ProjectionExpression": attributes, "ExpressionAttributeNames": names}


def query(ddb: Any, table: str, key: str, low: str, high: str, attributes: str = TARGET_ATTRIBUTES) -> Iterator[Item]:
    """Every item of `key` whose bucket is between low and high (inclusive), oldest first."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "seriesKey = :k AND #b BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {":k": {"S": key}, ":lo": {"S": low}, ":hi": {"S": high}},
        **_projection(attributes),
    }
    return paged(ddb.query, kwargs)


def before(
    ddb: Any, table: str, key: str, bucket: str, limit: int | None = 1, attributes: str = TARGET_ATTRIBUTES
) -> Iterator[Item]:
    """The items of `key` before `bucket`, newest first; with limit=1 one page of one item."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "seriesKey = :k AND #b < :b",
        "ExpressionAttributeValues": {":k": {"S": key}, ":b": {"S": bucket}},
        "ScanIndexForward": False,
        **_projection(attributes),
    }
    if limit is not None:
        kwargs["Limit"] = limit
    return paged(ddb.query, kwargs, pages=1 if limit is not None else None)


# ---- per key ---------------------------------------------------------------------------


def target_points(
    ddb: Any, table: str, target: Target, period: Period
) -> tuple[tuple[model.Point, ...], model.Snapshot | None]:
    """A post's or page's views per bucket (its period's items against the latest one
    before), and that latest snapshot before the period."""
    key = target.series_key
    earlier = [model.snapshot(item) for item in before(ddb, table, key, period.first_hour)]
    start = earlier[0] if earlier else None
    return model.item_points(start, query(ddb, table, key, period.first_hour, period.last_hour), period.by), start


def referrer_snapshots(
    ddb: Any, table: str, origin: str, targets: set[Target], period: Period
) -> tuple[dict[Target, int], list[RefSnapshot]]:
    """One referrer's snapshots in the period, and per target its latest one before.

    A referrer's buckets are day-first (`<day>#<kind>#<id>`), so the latest earlier snapshot
    of each target is found by reading backwards from `since` until every target the
    Referrer table lists has been met; a target first referred during the period reads the
    referrer's whole earlier history (its days x targets items).
    """
    key = model.REFERRER_PREFIX + origin
    days = query(ddb, table, key, period.first_day, period.after_last_day, REFERRER_ATTRIBUTES)
    during = [s for s in map(model.ref_snapshot, days) if s]
    earlier: dict[Target, int] = {}
    if targets:
        for item in before(ddb, table, key, period.first_day, limit=None, attributes=REFERRER_ATTRIBUTES):
            snap = model.ref_snapshot(item)
            if snap is not None and snap.target not in earlier:
                earlier[snap.target] = snap.views
                if targets <= earlier.keys():
                    break
    return earlier, during


# ---- the whole report ------------------------------------------------------------------


@dataclass(frozen=True)
class Inventory:
    """What exists, from the count tables."""

    posts: dict[str, str]
    """articleId -> stored title."""
    pages: list[str]
    referrers: dict[str, set[Target]]


def inventory(ddb: Any, settings: StackSettings) -> Inventory:
    posts = {
        str(item["articleId"]["S"]): str(item.get("articleTitle", {}).get("S", ""))
        for item in scan(ddb, settings.table(POST_COUNT_READER))
    }
    pages = sorted(str(item["pageName"]["S"]) for item in scan(ddb, settings.table(HOME_AND_PROFILE)))
    referrers: dict[str, set[Target]] = defaultdict(set)
    for item in scan(ddb, settings.table(REFERRER)):
        target = model.parse_target(str(item["target"]["S"]), ":")
        if target is not None:
            referrers[str(item["referrer"]["S"])].add(target)
    return Inventory(posts, pages, dict(referrers))


def read_report(
    ddb: Any, settings: StackSettings, period: Period, progress_out: TextIO | None = None, workers: int = WORKERS
) -> Report:
    found = inventory(ddb, settings)
    series = settings.table(SERIES)
    targets = [Target("post", a) for a in found.posts] + [Target("page", p) for p in found.pages]
    progress = Progress(len(targets) + len(found.referrers), progress_out or sys.stderr)
    reports: list[model.TargetReport] = []
    referrers: list[model.ReferrerReport] = []

    def post_or_page(target: Target) -> model.TargetReport:
        title = found.posts.get(target.key) if target.kind == "post" else None
        return model.target_report(target, title, *target_points(ddb, series, target, period))

    def referrer(origin: str) -> model.ReferrerReport:
        earlier, during = referrer_snapshots(ddb, series, origin, found.referrers[origin], period)
        return model.referrer_report(origin, earlier, during)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs: list[Future[Any]] = [
            *(pool.submit(post_or_page, t) for t in targets),
            *(pool.submit(referrer, origin) for origin in found.referrers),
        ]
        for job in as_completed(jobs):
            done = job.result()
            if isinstance(done, model.TargetReport):
                reports.append(done)
            else:
                referrers.append(done)
            progress.step()
    progress.finish()
    return Report(
        settings.stack,
        period,
        model.by_views(r for r in reports if r.target.kind == "post"),
        model.by_views(r for r in reports if r.target.kind == "page"),
        model.referrers_by_views(referrers),
    )
