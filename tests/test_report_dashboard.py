"""The local stack's /dashboard page on moto: the report's HTML, reloading itself; 503 when unreadable."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import boto3
from support.aws import REGION, STACK, Cloud
from support.events import post_item
from support.report_data import fill_example, without_series

from handlers.wiring import POST_COUNT_READER
from local.dashboard import REFRESH_SECONDS, Dashboard
from local.refusals import RefusalTee, cloudwatch_recorder
from report.settings import StackSettings

SETTINGS = StackSettings(STACK, REGION)


def test_dashboard_renders_the_report_of_the_last_30_days(cloud: Cloud) -> None:
    fill_example(cloud)
    status, content_type, body = Dashboard(SETTINGS, cloud.ddb, clock=lambda: date(2026, 11, 30))()
    page = body.decode()
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' in page
    assert "From 2026-11-01 to 2026-11-30" in page
    assert 'data-start="2026-11-29" data-total="7" data-unique="4"' in page


def test_dashboard_shows_what_was_filtered(cloud: Cloud) -> None:
    fill_example(cloud)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    RefusalTee(io.StringIO(), cloudwatch_recorder(cloudwatch, STACK)).write(
        '{"event":"connect_refused","reason":"origin"}\n'
    )
    today = datetime.now(UTC).date()  # the tee stamps its data point now, as the metric filter does
    _, _, body = Dashboard(SETTINGS, cloud.ddb, clock=lambda: today)()
    page = body.decode()
    row = page[page.index('<tr data-reason="origin">') :]
    assert row.index('<td class="n count">1</td>') < row.index("</tr>")


def test_dashboard_without_a_series_table_says_so_with_503(cloud: Cloud) -> None:
    without_series(cloud)
    cloud.put(POST_COUNT_READER, post_item("hello-world", 1))
    status, _, body = Dashboard(SETTINGS, cloud.ddb)()
    assert status == 503
    assert b"does not exist" in body
