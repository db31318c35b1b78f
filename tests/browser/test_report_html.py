"""The report's HTML dashboard in headless Chromium: self-contained, charts present, numbers right."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from support.aws import STACK, Cloud
from support.events import post_item
from support.report_data import fill_example, stack_root

from handlers.wiring import POST_COUNT_READER
from report.cli import main

from .support import Tab

PHONE = {"width": 390, "height": 844}
# Where to keep the screenshot for a person to look at (REPORT_SCREENSHOT=/path/to.png).
SCREENSHOT = os.environ.get("REPORT_SCREENSHOT")


def render(cloud: Cloud, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    root, html = stack_root(tmp_path), tmp_path / "report.html"
    out, err = io.StringIO(), io.StringIO()
    assert main(["--stack", STACK, "--json", "--html", str(html)], out, err, date(2026, 11, 30), root) == 0, err
    document: dict[str, Any] = json.loads(out.getvalue())
    return html, document


def open_offline(new_tab: Callable[..., Tab], html: Path) -> tuple[Tab, list[str]]:
    """The file on a phone-sized page; any request other than the file itself is refused and recorded."""
    tab = new_tab()
    tab.page.set_viewport_size(PHONE)
    fetched: list[str] = []
    tab.page.on("request", lambda request: fetched.append(request.url))
    tab.page.route("http*://**", lambda route: route.abort())
    tab.page.goto(html.as_uri())
    return tab, [url for url in fetched if url != html.as_uri()]


def bars(tab: Tab, selector: str) -> list[tuple[str, int, int]]:
    values: list[list[str]] = tab.page.eval_on_selector_all(
        f"{selector} g.bar", "gs => gs.map(g => [g.dataset.start, g.dataset.total, g.dataset.unique])"
    )
    return [(start, int(total), int(unique)) for start, total, unique in values]


def test_report_html_charts_and_numbers_match_the_json(
    cloud: Cloud, tmp_path: Path, new_tab: Callable[..., Tab]
) -> None:
    fill_example(cloud)
    html, document = render(cloud, tmp_path)
    tab, fetched = open_offline(new_tab, html)
    assert fetched == [], "the dashboard must need no network"
    page = tab.page

    # The site chart: every post's and page's views added up per day.
    site: dict[str, list[int]] = {}
    for entry in [*document["posts"], *document["pages"]]:
        for point in entry["series"]:
            cell = site.setdefault(point["start"], [0, 0])
            cell[0] += point["totalViews"]
            cell[1] += point["uniqueViews"]
    assert bars(tab, "svg.site-chart") == [(start, t, u) for start, (t, u) in sorted(site.items())]
    assert page.locator("svg.site-chart > text").all_text_contents()[-3:] == ["11-01", "11-16", "11-30"]

    # One chart per post with views, its bars equal to its series.
    hello = document["posts"][0]
    assert page.locator("div.post").count() == 1
    assert bars(tab, 'div.post[data-post="hello-world"] svg') == [
        (p["start"], p["totalViews"], p["uniqueViews"]) for p in hello["series"]
    ]
    # The tables state the same totals.
    row = page.locator('table.posts tr[data-post="hello-world"]')
    assert (row.locator("td.total").inner_text(), row.locator("td.unique").inner_text()) == ("12", "7")
    page_row = page.locator('table.pages tr[data-page="Home_Page"]')
    assert page_row.locator("td.total").inner_text() == str(document["pages"][0]["totalViews"])
    referrer = page.locator('table.referrers tr[data-referrer="https://news.ycombinator.com"]')
    assert referrer.locator("td.total").inner_text() == "4"
    assert page.locator(".tile b").all_inner_texts() == ["52", "38", "1", "4"]

    # Readable on a phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot = page.screenshot(full_page=True)
    assert shot.startswith(b"\x89PNG")
    if SCREENSHOT:
        Path(SCREENSHOT).write_bytes(shot)


def test_report_html_escapes_what_clients_sent(cloud: Cloud, tmp_path: Path, new_tab: Callable[..., Tab]) -> None:
    fill_example(cloud)
    cloud.put(POST_COUNT_READER, post_item("hello-world", 30, 20, '<img src=x onerror="alert(1)">'))
    html, _ = render(cloud, tmp_path)
    tab, fetched = open_offline(new_tab, html)
    assert fetched == []
    assert tab.page.locator("img").count() == 0
    assert '<img src=x onerror="alert(1)">' in tab.page.locator("table.posts").inner_text()


@pytest.mark.parametrize("by", ["hour"])
def test_report_html_by_hour_labels_hours(cloud: Cloud, tmp_path: Path, new_tab: Callable[..., Tab], by: str) -> None:
    fill_example(cloud)
    root, html = stack_root(tmp_path), tmp_path / "report.html"
    argv = ["--stack", STACK, "--since", "2026-11-05", "--until", "2026-11-05", "--by", by, "--html", str(html)]
    assert main(argv, io.StringIO(), io.StringIO(), date(2026, 11, 30), root) == 0
    tab, _ = open_offline(new_tab, html)
    assert bars(tab, "svg.site-chart") == [("2026-11-05T09:00Z", 3, 2), ("2026-11-05T10:00Z", 2, 1)]
    assert "views per hour" in tab.page.locator("svg.site-chart").get_attribute("aria-label")
