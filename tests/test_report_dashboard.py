"""The local stack's /dashboard page on moto: the report's HTML with its live script; 503 when unreadable.

The script itself runs in tests/browser/test_dashboard_live.py against a real stack.
"""

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
from report import html, model
from report.model import Period, Target, TargetReport
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


def test_dashboard_watches_what_it_lists_with_the_counts_its_period_starts_from(cloud: Cloud) -> None:
    fill_example(cloud)
    _, _, body = Dashboard(SETTINGS, cloud.ddb, clock=lambda: date(2026, 11, 30))()
    page = body.decode()
    watched = '<script type="application/json" id="live-watch">{"articleIds": ["hello-world"], "pages": ["Home_Page"]}'
    assert watched in page
    # hello-world's latest snapshot before November: 10 total, 8 unique (a push minus these).
    assert '<tr data-post="hello-world" data-before-total="10" data-before-unique="8">' in page
    assert '<tr data-page="Home_Page" data-before-total="0" data-before-unique="0">' in page
    assert f'<noscript><meta http-equiv="refresh" content="{REFRESH_SECONDS}"></noscript>' in page
    assert page.count("<script>") == 1 and '"watch"' in page


def _report(*posts: TargetReport) -> model.Report:
    return model.Report("local", Period(date(2026, 11, 1), date(2026, 11, 30)), posts, (), ())


def _post(key: str) -> TargetReport:
    return model.target_report(Target("post", key), key, (model.Point("2026-11-29", 1, 1),))


def test_report_html_file_stays_without_script() -> None:
    page = html.render(_report(_post("hello-world")))
    assert "<script" not in page and "data-before-" not in page and "refresh" not in page


def test_dashboard_watch_list_keeps_a_hostile_id_inside_its_json() -> None:
    page = html.render(_report(_post("</script><script>alert(1)//")), live_script="/* live */")
    assert page.count("</script>") == 2  # the JSON's and the live script's own
    assert '"articleIds": ["\\u003c/script>\\u003cscript>alert(1)//"]' in page


def test_dashboard_watch_list_is_at_most_fifty_targets_pages_first() -> None:
    posts = [_post(f"p{n}") for n in range(60)]
    pages = [model.target_report(Target("page", f"Page_{n}"), None, ()) for n in range(3)]
    watched = html.watch_list(posts, pages)
    assert watched["pages"] == ["Page_0", "Page_1", "Page_2"]
    assert watched["articleIds"] == [f"p{n}" for n in range(47)]
