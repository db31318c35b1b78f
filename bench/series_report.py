"""The report over a synthetic Series table: a year of hourly rows for 500 posts.

The issue asks that `python -m report` reads a year of history for 500 posts "in seconds"
with queries, never a scan of the history. This builds that table (every post viewed in
every hour: the worst case), times the default report (the last 30 days) and counts what
it asked of DynamoDB: queries, items and read units as DynamoDB bills them (eventually
consistent: 0.5 unit per 4 KB read, rounded up per page).

Two backends hold the same rows:
- `moto` (in-process): the emulator the tests use. It answers a Query by walking every
  item of its key (a year's 8,760) and serialises each returned item slowly (about 10 s
  per post on the development machine), so it is run with few posts, as a check;
- `table` (default): the same rows in sorted lists behind botocore (a `before-send` hook
  answers Query and Scan as DynamoDB does for the key conditions the report uses: the range
  by bisection, 1 MB pages, Limit, ScanIndexForward, ExclusiveStartKey; anything else is
  refused; ProjectionExpression honoured, and a projected page made once for every post,
  whose pages differ only by the key). The report, boto3's serialising and parsing and the
  threads all run for real; only DynamoDB's own time and the network are left out: on AWS
  each query is a round trip of tens of milliseconds, WORKERS at a time.

    .venv/bin/python -m bench.series_report [--posts 500] [--days 365] [--backend table|moto]
"""

from __future__ import annotations

import argparse
import bisect
import io
import json
import math
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.client import BaseClient
from moto import mock_aws
from moto.core.botocore_stubber import MockRawResponse
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from bench import cost
from handlers.wiring import POST_COUNT_READER, SERIES, WIRING, create_table_request, physical_table_name
from report import model, store
from report.model import Target
from report.settings import StackSettings
from report.shape import create_series_request, snapshot_item

STACK = "bench"
REGION = "us-east-1"
MOTO_ACCOUNT = "123456789012"
"""moto's default account."""
POSTS = 500
DAYS = 365
VIEWS_PER_HOUR = 3


@dataclass(frozen=True)
class SeriesReportResult:
    backend: str
    posts: int
    days: int
    rows: int
    """Items in the synthetic Series table."""
    fill_seconds: float
    seconds: float
    """Wall time of the default report (30 days), reads and rendering of the JSON document."""
    cpu_seconds: float
    """CPU time of the process meanwhile (all threads), the backend's included."""
    backend_cpu_seconds: float
    """Of which the stand-in for DynamoDB (nan on moto)."""

    @property
    def report_cpu_seconds(self) -> float:
        """The report's own CPU time: what it costs on any machine, less the waiting."""
        return self.cpu_seconds - self.backend_cpu_seconds

    queries: int
    items_read: int
    read_units: float
    scans: int


def hours(end: date, days: int) -> Iterator[str]:
    start = datetime(end.year, end.month, end.day, tzinfo=UTC) - timedelta(days=days - 1)
    for n in range(days * 24):
        yield (start + timedelta(hours=n)).strftime("%Y-%m-%dT%H")


@dataclass
class Rows:
    """The synthetic stack: every post viewed VIEWS_PER_HOUR times in every hour of the year.

    Items are made when asked for: 4.4 million of them held at once would take gigabytes.
    """

    buckets: list[str]
    targets: dict[str, Target]
    """By Series key."""

    @property
    def count(self) -> int:
        return len(self.buckets) * len(self.targets)

    def item(self, key: str, index: int) -> dict[str, Any]:
        n = index + 1
        return snapshot_item(self.targets[key], self.buckets[index], n * VIEWS_PER_HOUR, n * (VIEWS_PER_HOUR - 1))

    def item_bytes(self) -> int:
        """Every synthetic item is about the same size; its JSON length stands for DynamoDB's size."""
        return len(json.dumps(self.item(next(iter(self.targets)), len(self.buckets) - 1))) if self.targets else 0

    def reader(self) -> list[dict[str, Any]]:
        last = len(self.buckets) - 1
        return [
            {"articleId": {"S": t.key}, "articleTitle": {"S": f"Post {t.key}"}, **self.counts(key, last)}
            for key, t in self.targets.items()
        ]

    def counts(self, key: str, index: int) -> dict[str, Any]:
        item = self.item(key, index)
        return {"totalViews": item["totalViews"], "uniqueViews": item["uniqueViews"]}


def synthetic(posts: int, days: int, today: date) -> Rows:
    targets = (Target("post", f"post-{p:03d}") for p in range(posts))
    return Rows(list(hours(today, days)), {t.series_key: t for t in targets})


def fill_moto(rows: Rows) -> None:
    """Straight into moto's backend: through the API the fill alone would take hours."""
    backend = dynamodb_backends[MOTO_ACCOUNT][REGION]
    for item in rows.reader():
        backend.get_table(physical_table_name(STACK, POST_COUNT_READER)).put_item(item)
    series = backend.get_table(physical_table_name(STACK, SERIES))
    for key in rows.targets:
        stored = series.items[DynamoType({"S": key})]
        for index in range(len(rows.buckets)):
            item = rows.item(key, index)
            stored[DynamoType(item["bucket"])] = Item(DynamoType(item["seriesKey"]), DynamoType(item["bucket"]), item)


PAGE_BYTES = 1024 * 1024
"""DynamoDB stops a Query or Scan page at 1 MB of items read."""


class SortedTable:
    """DynamoDB's answers to the report's Scans and Queries, from sorted lists (read-only, thread-safe)."""

    def __init__(self, rows: Rows) -> None:
        self.scans = {physical_table_name(STACK, POST_COUNT_READER): rows.reader()}
        self.rows = rows
        self.cpu_seconds = 0.0
        """CPU time spent standing in for DynamoDB (left out of the report's own)."""
        self.lock = threading.Lock()
        self.item_bytes = rows.item_bytes()
        self.pages: dict[tuple[int, int, int, tuple[str, ...]], str] = {}

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        started = time.thread_time()
        try:
            return self.answer(request)
        finally:
            with self.lock:
                self.cpu_seconds += time.thread_time() - started

    def answer(self, request: AWSPreparedRequest) -> AWSResponse:
        target = request.headers["X-Amz-Target"]
        operation = (target.decode() if isinstance(target, bytes) else str(target)).split(".")[-1]
        body = json.loads(request.body or b"{}")
        answer = self.query(body) if operation == "Query" else self.scan(body) if operation == "Scan" else None
        if answer is None:
            raise AssertionError(f"the report asked for {operation} {body}: not what it should need")
        items = answer.pop("Items")
        text = items if isinstance(items, str) else json.dumps(items)
        return AWSResponse(request.url, 200, {}, MockRawResponse(json.dumps(answer)[:-1] + f', "Items": {text}}}'))

    def scan(self, body: dict[str, Any]) -> dict[str, Any]:
        items = self.scans.get(body["TableName"], [])  # the other count tables are empty here
        return {"Items": items, "Count": len(items), "ScannedCount": len(items)}

    def query(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if body["TableName"] != physical_table_name(STACK, SERIES):
            return None
        values, condition = body["ExpressionAttributeValues"], body["KeyConditionExpression"]
        key = values[":k"]["S"]
        buckets = self.rows.buckets if key in self.rows.targets else []
        if condition == "seriesKey = :k AND #b BETWEEN :lo AND :hi":
            low, high = (
                bisect.bisect_left(buckets, values[":lo"]["S"]),
                bisect.bisect_right(buckets, values[":hi"]["S"]),
            )
        elif condition == "seriesKey = :k AND #b < :b":
            low, high = 0, bisect.bisect_left(buckets, values[":b"]["S"])
        else:
            return None
        forward = body.get("ScanIndexForward", True)
        start = body.get("ExclusiveStartKey", {}).get("bucket", {}).get("S")
        if start is not None:
            if forward:
                low = bisect.bisect_right(buckets, start, low, high)
            else:
                high = bisect.bisect_left(buckets, start, low, high)
        chosen = range(low, high) if forward else range(high - 1, low - 1, -1)
        limit = min(body.get("Limit", len(chosen)), len(chosen), max(1, PAGE_BYTES // max(1, self.item_bytes)))
        page = chosen[:limit]
        answer: dict[str, Any] = {"Count": len(page), "ScannedCount": len(page)}
        if len(page) < len(chosen):
            answer["LastEvaluatedKey"] = {"seriesKey": {"S": key}, "bucket": {"S": buckets[page[-1]]}}
        names = body.get("ExpressionAttributeNames", {})
        projection = body.get("ProjectionExpression")
        kept = tuple(names.get(n.strip(), n.strip()) for n in projection.split(",")) if projection else None
        answer["Items"] = self.items(key, page, kept)
        return answer

    def items(self, key: str, page: range, kept: tuple[str, ...] | None) -> str:
        """A page's items as DynamoDB's JSON. Without the key in the projection every post's
        page of the same hours reads the same, so it is made once: the stand-in's own time
        would otherwise be most of the wall time on a shared machine."""
        if kept is None or "seriesKey" in kept:
            return json.dumps([self.rows.item(key, i) for i in page])
        cache_key = (page.start, page.stop, page.step, kept)
        with self.lock:
            text = self.pages.get(cache_key)
        if text is None:
            projected = [{k: v for k, v in self.rows.item(key, i).items() if k in kept} for i in page]
            text = json.dumps(projected)
            with self.lock:
                self.pages[cache_key] = text
        return text


@dataclass
class Reads:
    queries: int = 0
    scans: int = 0
    items: int = 0
    units: float = 0.0


@contextmanager
def counted(reads: Reads, series_item_bytes: int) -> Iterator[None]:
    """Counts the report's Query and Scan pages and the units DynamoDB would bill for them.

    DynamoDB bills a Query for the whole items it reads, whatever a ProjectionExpression
    returns, and every synthetic Series item is about `series_item_bytes` long; sizing each
    returned item here would also charge the bench's own work to the report's CPU time.
    """
    original = BaseClient._make_api_call
    lock = threading.Lock()

    def call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        response = original(self, operation, params)
        if operation in ("Query", "Scan"):
            items = response.get("Items", [])
            # The count tables' few items: str() is close to DynamoDB's size for these short items.
            size = len(items) * series_item_bytes if operation == "Query" else sum(len(str(i)) for i in items)
            with lock:  # the report's threads answer at once; += is not atomic
                reads.queries += operation == "Query"
                reads.scans += operation == "Scan"
                reads.items += len(items)
                reads.units += cost.read_units(size)
        return response

    BaseClient._make_api_call = call
    try:
        yield
    finally:
        BaseClient._make_api_call = original


Backend = Literal["table", "moto"]


@contextmanager
def fake_credentials() -> Iterator[None]:
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE")
    saved = {k: os.environ.pop(k, None) for k in names}
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION})
    try:
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value


def timed_report(ddb: Any, today: date, item_bytes: int) -> tuple[model.Report, float, float, Reads]:
    """The report, its wall time and its process CPU time, and what it read."""
    settings, reads = StackSettings(STACK, REGION), Reads()
    with counted(reads, item_bytes):
        started, cpu = time.perf_counter(), time.process_time()
        report = store.read_report(ddb, settings, model.default_period(today), io.StringIO())
        model.document(report)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return report, seconds, cpu, reads


def measure(
    posts: int = POSTS, days: int = DAYS, backend: Backend = "table", today: date | None = None
) -> SeriesReportResult:
    today = today or datetime.now(UTC).date()
    started = time.perf_counter()
    rows = synthetic(posts, days, today)
    with fake_credentials():
        if backend == "moto":
            with mock_aws():
                ddb = boto3.client("dynamodb", region_name=REGION)
                for spec in WIRING.tables:
                    ddb.create_table(**create_table_request(spec, STACK))
                ddb.create_table(**create_series_request(STACK))
                fill_moto(rows)
                filled = time.perf_counter() - started
                ddb = store.client(StackSettings(STACK, REGION))
                report, seconds, cpu, reads = timed_report(ddb, today, rows.item_bytes())
                backend_cpu = math.nan  # moto's share is not separable
        else:
            ddb = store.client(StackSettings(STACK, REGION))
            table = SortedTable(rows)
            ddb.meta.events.register("before-send.dynamodb", table)
            filled = time.perf_counter() - started
            report, seconds, cpu, reads = timed_report(ddb, today, rows.item_bytes())
            backend_cpu = table.cpu_seconds
    hours_in_period = 30 * 24
    assert len(report.posts) == posts, "every post is reported"
    assert all(r.total == hours_in_period * VIEWS_PER_HOUR for r in report.posts), "every view counted once"
    return SeriesReportResult(
        backend,
        posts,
        days,
        rows.count,
        filled,
        seconds,
        cpu,
        backend_cpu,
        reads.queries,
        reads.items,
        reads.units,
        reads.scans,
    )


def price_per_unit() -> float:
    return float(cost.load_prices()["dynamodb"]["usd_per_million_read_request_units"]) / 1e6


def describe(result: SeriesReportResult) -> str:
    return (
        f"report of the last 30 days over {result.rows:,} Series rows ({result.posts} posts x {result.days} days "
        f"x 24 h): {result.seconds:.1f} s wall, {result.report_cpu_seconds:.1f} s of the report's CPU "
        f"({result.backend}; {result.backend_cpu_seconds:.1f} s more standing in for DynamoDB); "
        f"{result.queries:,} queries and {result.scans} scan pages, "
        f"{result.items_read:,} items, {result.read_units:,.0f} read units "
        f"(${result.read_units * price_per_unit():.5f} on demand)"
    )


GOAL_SECONDS = 10.0
"""The issue's "in seconds" for the default report over a year of 500 posts."""


def section(result: SeriesReportResult) -> list[str]:
    """RESULTS.md's lines for this benchmark."""
    verdict = "met" if result.report_cpu_seconds <= GOAL_SECONDS else "missed"
    return [
        "## The owner's report over a year of history",
        "",
        f"`python -m report`'s default period (the last 30 days) over a synthetic Series table of "
        f"{result.rows:,} rows: {result.posts} posts, each viewed in every hour of {result.days} days "
        f"(bench/series_report.py, backend `{result.backend}`: the rows in sorted lists behind botocore, so the "
        "report, boto3 and its threads run for real and only DynamoDB's own time and the network are left out).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| the report's CPU time (goal: seconds, {GOAL_SECONDS:g} s; {verdict}) | {result.report_cpu_seconds:.1f} s |",
        f"| wall time on this shared machine (the stand-in's {result.backend_cpu_seconds:.1f} s CPU included) "
        f"| {result.seconds:.1f} s |",
        f"| Query calls (2 per post: the period's hours, and the one snapshot before them) | {result.queries:,} |",
        f"| Scan pages (count tables only; never the history) | {result.scans} |",
        f"| items read | {result.items_read:,} |",
        f"| read units (eventually consistent; whole items, as DynamoDB bills a projection) "
        f"| {result.read_units:,.0f} |",
        f"| cost of one report, on demand | ${result.read_units * price_per_unit():.4f} |",
        "",
        f"On AWS each query is a round trip of tens of milliseconds, {store.WORKERS} at a time: about "
        f"{result.queries / store.WORKERS * 0.03:.0f} s more at 30 ms each. moto is not used for the full table: it "
        "walks all 8,760 items of a key per Query and serialises each returned one slowly (about 10 s per post "
        "on the development machine); `--backend moto --posts 2` gives the same items and read units per post.",
        "",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.series_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=POSTS)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--backend", choices=("table", "moto"), default="table")
    args = parser.parse_args(argv)
    print(describe(measure(args.posts, args.days, args.backend)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
