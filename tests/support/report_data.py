"""A stack's count tables and Series table filled by hand, for the report's tests.

The Series items have exactly the shape DESIGN.md fixes (report/shape.py); the series
consumer that writes them on a deployed stack is not needed to test the reader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from handlers.wiring import HOME_AND_PROFILE, POST_COUNT_READER, REFERRER, SERIES
from report.model import Target
from report.shape import create_series_request, referrer_item, snapshot_item
from support.aws import REGION, STACK, Cloud
from support.events import post_item


def stack_root(tmp_path: Path) -> Path:
    """A project directory whose Pulumi.<stack>.yaml names the tests' region."""
    (tmp_path / f"Pulumi.{STACK}.yaml").write_text(f"config:\n  aws:region: {REGION}\n")
    return tmp_path


def create_series(cloud: Cloud) -> None:
    """The Series table, unless the stack's wiring already made it (once the series consumer is merged)."""
    request = create_series_request(STACK)
    if request["TableName"] not in cloud.ddb.list_tables()["TableNames"]:
        cloud.ddb.create_table(**request)


def without_series(cloud: Cloud) -> None:
    """A stack whose Series table is missing (deployed before the series consumer, or a wrong name)."""
    name = create_series_request(STACK)["TableName"]
    if name in cloud.ddb.list_tables()["TableNames"]:
        cloud.ddb.delete_table(TableName=name)


def page_row(page: str, total: int, unique: int) -> dict[str, Any]:
    return {"pageName": {"S": page}, "totalViews": {"N": str(total)}, "uniqueViews": {"N": str(unique)}}


def referrer_row(origin: str, target: Target, views: int) -> dict[str, Any]:
    return {"referrer": {"S": origin}, "target": {"S": f"{target.kind}:{target.key}"}, "views": {"N": str(views)}}


HELLO = Target("post", "hello-world")
QUIET = Target("post", "quiet")
HOME = Target("page", "Home_Page")
HN = "https://news.ycombinator.com"


def fill_example(cloud: Cloud) -> None:
    """Three months of a small blog around November 2026 (expected figures in the tests)."""
    create_series(cloud)
    cloud.put(POST_COUNT_READER, post_item("hello-world", 30, 20, "Hello World"), post_item("quiet", 4, 4, "Quiet"))
    cloud.put(HOME_AND_PROFILE, page_row("Home_Page", 40, 31))
    cloud.put(
        REFERRER,
        referrer_row(HN, HELLO, 5),
        referrer_row(HN, HOME, 2),
        referrer_row("https://quiet.example", HELLO, 1),
    )
    cloud.put(
        SERIES,
        snapshot_item(QUIET, "2026-10-01T00", 4, 4),
        snapshot_item(HELLO, "2026-10-01T05", 6, 5),
        snapshot_item(HELLO, "2026-10-31T22", 10, 8),  # the latest before the period
        snapshot_item(HELLO, "2026-11-05T09", 13, 10),
        snapshot_item(HELLO, "2026-11-05T10", 15, 11),
        snapshot_item(HELLO, "2026-11-29T14", 22, 15),
        snapshot_item(HELLO, "2026-12-01T00", 30, 20),  # after the period
        snapshot_item(HOME, "2026-11-10T00", 40, 31),
        referrer_item(HN, "2026-10-20", HELLO, 3),
        referrer_item(HN, "2026-11-05", HELLO, 5),
        referrer_item(HN, "2026-11-10", HOME, 2),
        referrer_item("https://quiet.example", "2026-10-01", HELLO, 1),
    )
