"""The local /dashboard in headless Chromium, live: a view sent through a real WebSocket
client moves the dashboard's number for that post without a reload, and the dashboard
itself counts nothing (it only sends `watch`)."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import WebSocketRoute
from websockets.sync.client import connect
from websockets.typing import Origin

from .support import SETTLE_SECONDS, Stack, Tab, wait_until

pytestmark = pytest.mark.slow

PIPELINE_SECONDS = 60.0
"""A first view reaching Series (counter, stream, series consumer) and so the dashboard's list."""
REDRAW_SECONDS = 45.0
"""dashboard.js redraws at most every 30 s, and 5 s after a push at the soonest."""


def send_view(stack: Stack, article: str) -> None:
    """One reader's view, as analytics.js sends it, from the gateway's own origin."""
    view = {
        "message": "views",
        "articleId": article,
        "articleTitle": f"Dashboard {article}",
        "currentPage": f"/posts/{article}",
        "refreshed": False,
    }
    with connect(stack.ws_url, origin=Origin(stack.origin), open_timeout=5) as ws:
        ws.send(json.dumps(view))
        while True:
            reply: dict[str, Any] = json.loads(ws.recv(10))
            if reply.get("message") == "views":
                assert reply.get("status") == "ok", reply
                return


def dashboard_lists(stack: Stack, article: str) -> bool:
    with urllib.request.urlopen(f"{stack.origin}/dashboard", timeout=30) as response:
        return f'data-post="{article}"'.encode() in response.read()


def site_bar(tab: Tab) -> int:
    """The site chart's views today (its last bar: the period ends today)."""
    totals = tab.page.eval_on_selector_all("svg.site-chart g.bar", "gs => gs.map(g => Number(g.dataset.total))")
    return int(totals[-1]) if totals else 0


def row_numbers(tab: Tab, article: str) -> tuple[str | None, str | None]:
    row = f'table.posts tr[data-post="{article}"]'
    return tab.page.text_content(f"{row} td.total"), tab.page.text_content(f"{row} td.unique")


def test_dashboard_moves_a_posts_number_on_a_push_without_reload(new_tab: Callable[..., Tab], stack: Stack) -> None:
    article = f"dash-{uuid.uuid4().hex[:12]}"
    send_view(stack, article)
    wait_until(lambda: dashboard_lists(stack, article), PIPELINE_SECONDS, "the dashboard to list the post")

    # As the owner's browser looks: $connect refuses what announces itself as a bot (HeadlessChrome).
    tab = new_tab(person=True)
    tab.page.goto(f"{stack.origin}/dashboard")
    assert row_numbers(tab, article) == ("1", "1")
    views_tile = int(tab.page.text_content('.tile[data-tile="views"] b') or "")
    today_bar = site_bar(tab)
    tab.page.evaluate("window.notReloaded = true")  # a reload would lose it

    send_view(stack, article)

    wait_until(
        lambda: row_numbers(tab, article) == ("2", "2"),
        SETTLE_SECONDS,
        "the dashboard's row to show the second view",
        last=lambda: (row_numbers(tab, article), tab.console),
    )
    assert tab.page.evaluate("window.notReloaded") is True
    assert int(tab.page.text_content('.tile[data-tile="views"] b') or "") >= views_tile + 1
    # The charts follow from a fresh copy of the page, throttled (30 s after it loaded at most).
    wait_until(
        lambda: site_bar(tab) > today_bar, REDRAW_SECONDS, "the site chart to follow", last=lambda: site_bar(tab)
    )
    assert row_numbers(tab, article) == ("2", "2")
    assert tab.page.evaluate("window.notReloaded") is True
    # The dashboard only watched: the post has exactly the two views sent.
    assert stack.post_counts(article) == (2, 2)
    assert not [line for line in tab.console if "live counts unavailable" in line], tab.console


def falls_back_to_reloading(tab: Tab, stack: Stack, reason: str) -> None:
    """Opens /dashboard in `tab`; it says `reason` in the console, then reloads itself."""
    tab.page.goto(f"{stack.origin}/dashboard")
    tab.page.evaluate("window.notReloaded = true")

    def fell_back() -> bool:
        tab.page.wait_for_timeout(100)  # playwright delivers console events only while it is called
        return any(reason in line for line in tab.console)

    wait_until(fell_back, SETTLE_SECONDS, "the fallback", last=lambda: tab.console)
    with tab.page.expect_navigation(timeout=REDRAW_SECONDS * 1000):
        pass  # the fallback's location.reload()
    assert tab.page.evaluate("window.notReloaded") is None


def test_dashboard_reloads_every_30_s_when_its_socket_cannot_open(new_tab: Callable[..., Tab], stack: Stack) -> None:
    # Headless Chromium as it is (HeadlessChrome): $connect refuses it with 403, as it would any bot.
    falls_back_to_reloading(new_tab(), stack, "live counts unavailable")


def test_dashboard_reloads_every_30_s_when_its_watch_is_refused(new_tab: Callable[..., Tab], stack: Stack) -> None:
    """A refused watch (e.g. a page no rule counts any more) brings no pushes: the page must
    fall back to reloading rather than go stale with its socket open."""
    tab = new_tab(person=True)
    refusal = {"message": "error", "error": "invalid_event", "detail": "pages.0: not a page of this blog"}

    def gateway(ws: WebSocketRoute) -> None:  # stands in for the gateway: refuses every watch
        ws.on_message(lambda _: ws.send(json.dumps(refusal)))

    tab.page.route_web_socket(re.compile(".*"), gateway)
    falls_back_to_reloading(tab, stack, "watch refused: invalid_event")
