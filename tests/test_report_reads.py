"""What the report asks of DynamoDB for a synthetic Series table (moto): queries, not history.

A report of a period reads, per post or page, one Limit=1 query for the snapshot before the
period and the period's own hourly items; never the key's other history. A regression to
reading every row of a key (or scanning Series) fails here, whatever the machine's speed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from support.aws import REGION, STACK, Cloud
from support.events import post_item
from support.report_data import create_series

from handlers.wiring import POST_COUNT_READER, SERIES
from report import model, store
from report.model import Period, Target
from report.settings import StackSettings
from report.shape import snapshot_item

POSTS = 3
DAYS = 4
"""Of history: hourly items for every post, the last day being the report's period."""
UNTIL = date(2026, 11, 30)
VIEWS_PER_HOUR = 2


@dataclass
class Reads:
    queries: list[dict[str, Any]] = field(default_factory=list)
    items: int = 0
    scanned_tables: list[str] = field(default_factory=list)


def hours() -> Iterator[str]:
    start = datetime(UNTIL.year, UNTIL.month, UNTIL.day) - timedelta(days=DAYS - 1)
    for n in range(DAYS * 24):
        yield (start + timedelta(hours=n)).strftime("%Y-%m-%dT%H")


def fill(cloud: Cloud) -> list[Target]:
    create_series(cloud)
    targets = [Target("post", f"post-{p}") for p in range(POSTS)]
    cloud.put(POST_COUNT_READER, *(post_item(t.key, DAYS * 24 * VIEWS_PER_HOUR, 1, t.key) for t in targets))
    rows = [snapshot_item(t, hour, (n + 1) * VIEWS_PER_HOUR, n + 1) for t in targets for n, hour in enumerate(hours())]
    cloud.put(SERIES, *rows)
    return targets


def counted_client(reads: Reads) -> Any:
    ddb = store.client(StackSettings(STACK, REGION))

    def asked(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "Query":
            reads.queries.append(dict(params))
        elif model.name == "Scan":
            reads.scanned_tables.append(str(params["TableName"]))

    def answered(model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if model.name == "Query":
            reads.items += len(parsed.get("Items", []))

    ddb.meta.events.register("before-parameter-build.dynamodb", asked)
    ddb.meta.events.register("after-call.dynamodb", answered)
    return ddb


@pytest.mark.parametrize("by", ["day", "hour"])
def test_report_reads_the_period_and_one_snapshot_before_per_post(cloud: Cloud, by: model.By) -> None:
    targets = fill(cloud)
    reads = Reads()
    period = Period(UNTIL, UNTIL, by)  # the last of DAYS days of history

    report = store.read_report(counted_client(reads), StackSettings(STACK, REGION), period)

    hours_in_period = 24
    assert [r.total for r in report.posts] == [hours_in_period * VIEWS_PER_HOUR] * POSTS
    assert len(reads.queries) == 2 * len(targets)
    assert reads.items <= len(targets) * (1 + hours_in_period), "read history outside the period"
    assert f"{STACK}-{SERIES}" not in reads.scanned_tables
    assert all(q.get("Limit") == 1 for q in reads.queries if "<" in q["KeyConditionExpression"])


def test_report_reads_only_the_attributes_it_uses(cloud: Cloud) -> None:
    fill(cloud)
    reads = Reads()

    store.read_report(counted_client(reads), StackSettings(STACK, REGION), Period(UNTIL, UNTIL))

    assert {q["ProjectionExpression"] for q in reads.queries} == {store.TARGET_ATTRIBUTES}
