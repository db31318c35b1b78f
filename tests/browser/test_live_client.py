"""Live counts in client/analytics.js (ARCHITECTURE.md 3.1.2), in headless Chromium against the
scripted gateway of support.py: a real WebSocket server that answers `views`, `stats` and `watch`
as the contract says and sends the `counts` pushes each test scripts.

Hidden tabs are emulated (document.hidden and visibilitychange) and time is playwright's fake
clock, so no test waits the five minutes a hidden tab keeps its socket.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .support import REPO, VISIBILITY, FakeGateway, Site, Tab, wait_until

pytestmark = pytest.mark.slow  # each test drives a real browser

# window.setHidden(true|false) hides or shows the tab as a browser does.
DNT_ON = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'});"
POST = 'data-allow-localhost data-article-id="hello-world" data-article-title="Hello World"'
COUNTS = (
    '<b id="views" data-views-for="hello-world">-</b> <b id="reading" data-reading-now-for="hello-world">-</b>'
    '<b id="other" data-views-for="second-post">-</b> <b id="home" data-views-for="Home_Page">-</b>'
)
UNAVAILABLE = {"message": "error", "error": "unavailable"}


def counts(article: str, total: int, reading: int) -> dict[str, Any]:
    """A push as the server sends it."""
    return {
        "message": "counts",
        "articleId": article,
        "articleTitle": article.title(),
        "totalViews": total,
        "uniqueViews": total,
        "readingNow": reading,
    }


def shown(tab: Tab, *selectors: str) -> list[str | None]:
    return [tab.page.text_content(s) for s in selectors]


def open_post(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    """Loads the post page and waits for its view's reply to be shown."""
    tab.page.goto(site.add("/posts/hello-world", gateway.url, attrs=POST, body=COUNTS))
    wait_until(lambda: tab.page.text_content("#views") != "-", what="the view's reply on the page")


def open_post_hideable(new_tab: Callable[..., Tab], site: Site, gateway: FakeGateway) -> Tab:
    """open_post in a tab that setHidden() hides, on playwright's clock (fast_forward skips time)."""
    tab = new_tab(VISIBILITY)
    tab.page.clock.install()
    open_post(tab, site, gateway)
    return tab


def assert_follows_again(gateway: FakeGateway) -> None:
    """The second connection's first frame follows the post with watch, reading it again (readingNow);
    no view was added."""
    wait_until(lambda: len(gateway.frames) == 2, what="the socket reopened")
    watch = {"message": "watch", "articleIds": ["hello-world"], "pages": [], "reading": {"articleId": "hello-world"}}
    assert gateway.frames[1] == (1, watch)
    assert len(gateway.views) == 1, "following again is not a new view"


def messages(gateway: FakeGateway) -> list[tuple[int, str]]:
    return [(n, m["message"]) for n, m in gateway.frames]


# --- pushes ---------------------------------------------------------------------------


def test_push_updates_views_and_reading_now_without_reload(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    gateway.totals["hello-world"] = [4, 3]
    open_post(tab, site, gateway)
    assert shown(tab, "#views", "#reading") == ["5", "1"], "the views reply carries readingNow"
    tab.page.evaluate("window.got = []; BlogAnalytics.onCounts((c) => got.push(c))")

    gateway.push(counts("hello-world", 9, 3))
    gateway.push({"message": "counts", "page": "Home_Page", "totalViews": 40, "uniqueViews": 31, "readingNow": 2})

    wait_until(lambda: shown(tab, "#views", "#reading", "#home") == ["9", "3", "40"], what="the pushed counts")
    assert [c["totalViews"] for c in tab.page.evaluate("got")] == [9, 40], "onCounts receives pushes"
    assert messages(gateway) == [(0, "views")], "no reload, no new view"


def test_push_during_a_pending_view_does_not_answer_it(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    gateway.totals["hello-world"] = [6, 6]
    gateway.before_reply.append(counts("second-post", 50, 2))  # arrives while the view awaits its reply
    gateway.lose = 1  # and then the reply is lost: the view must still be pending, to be resent

    open_post(tab, site, gateway)

    wait_until(lambda: shown(tab, "#views", "#other") == ["7", "50"], what="the resent view's reply and the push")
    first, resent = gateway.views
    assert first == resent, "the same view again, same viewId: the push did not stand for its reply"
    assert tab.said() == []


def test_push_during_a_pending_stats_does_not_resolve_it(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    open_post(tab, site, gateway)
    gateway.before_reply.append(counts("second-post", 50, 2))

    reply = tab.page.evaluate("BlogAnalytics.stats(['second-post'])")

    assert reply["message"] == "stats" and reply["articles"][0]["articleId"] == "second-post"
    assert tab.page.text_content("#other") == "50", "the push was shown, not taken for the reply"


def test_push_before_an_unavailable_reply_keeps_the_resend(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    gateway.before_reply.append(counts("second-post", 50, 2))
    gateway.replies.append(UNAVAILABLE)

    open_post(tab, site, gateway)

    first, resent = gateway.views
    assert first == resent, "resent once, same viewId"
    assert tab.page.text_content("#other") == "50"
    assert tab.said() == []


def test_stale_push_never_lowers_the_counts_shown(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    open_post(tab, site, gateway)
    tab.page.evaluate("window.got = []; BlogAnalytics.onCounts((c) => got.push(c.totalViews))")
    gateway.push(counts("hello-world", 10, 4))
    wait_until(lambda: shown(tab, "#views", "#reading") == ["10", "4"], what="the newer push")

    gateway.push(counts("hello-world", 8, 1))  # a replayed, older push
    gateway.push(counts("second-post", 3, 1))  # frames arrive in order: once this shows, the stale one was seen
    wait_until(lambda: tab.page.text_content("#other") == "3", what="the next push")

    assert shown(tab, "#views", "#reading") == ["10", "4"]
    assert tab.page.evaluate("got") == [10, 3], "onCounts is not handed the stale push either"


def test_stale_reply_never_lowers_the_counts_shown(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    open_post(tab, site, gateway)
    gateway.push(counts("hello-world", 10, 4))
    wait_until(lambda: tab.page.text_content("#views") == "10", what="the push")

    tab.page.evaluate("BlogAnalytics.view()")  # answered with totalViews 2, stored before the push's 10
    wait_until(lambda: len(gateway.views) == 2, what="the second view")
    tab.page.evaluate("BlogAnalytics.stats(['hello-world'])")

    assert shown(tab, "#views", "#reading") == ["10", "4"]


# --- keeping, closing and reopening the socket ------------------------------------------


def test_hidden_tab_closes_its_socket_and_shown_again_follows_with_watch(
    new_tab: Callable[..., Tab], site: Site, gateway: FakeGateway
) -> None:
    tab = open_post_hideable(new_tab, site, gateway)

    tab.page.evaluate("setHidden(true)")
    tab.page.clock.fast_forward("04:00")
    tab.page.evaluate("setHidden(false)")  # back within five minutes: the timer starts again
    tab.page.evaluate("setHidden(true)")
    tab.page.clock.fast_forward("04:00")
    assert gateway.closed == 0, "hidden for less than five minutes: the socket stays"
    tab.page.clock.fast_forward("01:01")
    wait_until(lambda: gateway.closed == 1, what="the hidden tab to close its socket")

    tab.page.evaluate("setHidden(false)")

    assert_follows_again(gateway)
    gateway.push(counts("hello-world", 30, 2), connection=1)
    wait_until(lambda: shown(tab, "#views", "#reading") == ["30", "2"], what="pushes on the new socket")


def test_server_close_while_visible_reconnects_and_follows_again(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    """API Gateway closes a socket after 10 idle minutes and after 2 hours: a visible page reopens it."""
    open_post(tab, site, gateway)

    gateway.drop_connections()

    assert_follows_again(gateway)


def test_live_counts_off_a_closed_socket_is_not_reopened_to_follow(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    """A stack with live counts off answers views without readingNow and pushes nothing: the page
    shows its counts and, when the gateway closes the idle socket, does not pay for another."""
    gateway.live_off = True
    tab.page.clock.install()
    open_post(tab, site, gateway)
    assert shown(tab, "#views", "#reading") == ["1", "-"], "no readingNow: its element is left as it was"

    gateway.drop_connections()
    tab.page.wait_for_timeout(200)  # the close event reaches the page
    tab.page.clock.fast_forward("02:00")  # past any backoff

    assert gateway.connections == 1 and messages(gateway) == [(0, "views")]
    tab.page.evaluate("BlogAnalytics.view({articleId: 'second-post'})")
    wait_until(lambda: messages(gateway) == [(0, "views"), (1, "views")], what="a new view opens a socket")


def test_server_close_while_hidden_waits_until_shown(
    new_tab: Callable[..., Tab], site: Site, gateway: FakeGateway
) -> None:
    tab = open_post_hideable(new_tab, site, gateway)
    tab.page.evaluate("setHidden(true)")

    gateway.drop_connections()
    tab.page.wait_for_timeout(200)  # the close event reaches the page
    tab.page.clock.fast_forward("02:00")  # past any backoff

    assert gateway.connections == 1, "a hidden tab does not reconnect just to follow counts"
    tab.page.evaluate("setHidden(false)")
    assert_follows_again(gateway)


def test_page_not_counted_keeps_no_socket(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    tab.page.goto(site.add("/", gateway.url, attrs=""))  # localhost without data-allow-localhost
    tab.page.evaluate("BlogAnalytics.watch(['hello-world'])")
    tab.page.wait_for_timeout(300)
    assert gateway.connections == 0


# --- watch -----------------------------------------------------------------------------------


def test_watch_follows_the_listed_posts_and_again_on_a_new_socket(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    gateway.totals.update({"hello-world": [5, 4], "second-post": [2, 2]})
    gateway.reading["second-post"] = 3
    tab.page.goto(site.add("/", gateway.url, body=COUNTS))
    wait_until(lambda: tab.page.text_content("#home") == "1", what="the home page's view reply")

    reply = tab.page.evaluate("BlogAnalytics.watch(['hello-world', 'second-post'])")

    assert [a["articleId"] for a in reply["articles"]] == ["hello-world", "second-post"]
    assert shown(tab, "#views", "#other") == ["5", "2"]
    watch = {"message": "watch", "articleIds": ["hello-world", "second-post"], "pages": ["Home_Page"]}
    assert gateway.frames[1] == (0, watch), "the list, and the page's own target (once)"
    assert len(gateway.views) == 1, "watching counts nothing"

    gateway.drop_connections()

    wait_until(lambda: len(gateway.frames) == 3, what="the reconnect")
    assert gateway.frames[2] == (1, {**watch, "reading": {"page": "Home_Page"}}), "and reads its own page again"
    gateway.push(counts("second-post", 7, 4), connection=1)
    wait_until(lambda: tab.page.text_content("#other") == "7", what="a push for a watched post")


def test_watch_when_counting_is_off_resolves_null_and_never_connects(
    new_tab: Callable[..., Tab], site: Site, gateway: FakeGateway
) -> None:
    tab = new_tab(DNT_ON)
    tab.page.goto(site.add("/", gateway.url))

    assert tab.page.evaluate("BlogAnalytics.watch(['hello-world'])") is None
    tab.page.evaluate("history.pushState({}, '', '/pages/about')")
    tab.page.wait_for_timeout(300)
    assert gateway.connections == 0


# --- the demo blog (client/demo/) against the scripted gateway --------------------------------

DEMO = REPO / "client" / "demo"


def demo_page(site: Site, gateway: FakeGateway, path: str, file: str) -> str:
    """Serves a demo page as the local stack does (its WebSocket URL filled in); returns its URL."""
    site.pages[path] = (DEMO / file).read_text().replace("__WS_URL__", gateway.url)
    return site.origin + path


def test_demo_home_page_watches_the_posts_it_lists_and_shows_pushes(
    new_tab: Callable[..., Tab], site: Site, gateway: FakeGateway
) -> None:
    tab = new_tab(person=True)  # the demo's script tag has no test opt-in: a person's browser
    gateway.totals.update({"hello-world": [5, 4], "About_Page": [2, 2]})
    gateway.reading["hello-world"] = 2
    tab.page.goto(demo_page(site, gateway, "/", "index.html"))
    wait_until(lambda: len(gateway.frames) == 2, what="the view and the watch")

    assert [m for _, m in gateway.frames][1] == {
        "message": "watch",
        "articleIds": ["hello-world", "second-post"],
        "pages": ["About_Page", "Contact_Page"],
    }
    item = "li:has(a[href='/posts/hello-world'])"
    wait_until(
        lambda: shown(tab, f"{item} [data-views-for]", f"{item} [data-reading-now-for]") == ["5", "2"],
        what="the watch reply in the post list",
    )
    gateway.push(counts("hello-world", 6, 3))
    wait_until(
        lambda: (
            shown(tab, f"{item} [data-views-for]", f"{item} [data-reading-now-for]", "[data-unique-for=hello-world]")
            == ["6", "3", "6"]
        ),
        what="the push in the list and the table",
    )
    assert shown(tab, "#counts [data-views-for=About_Page]", "[data-unique-for=About_Page]") == ["2", "2"]
    assert len(gateway.views) == 1
    assert tab.said() == []


def test_demo_post_page_shows_its_count_and_reading_now_live(
    new_tab: Callable[..., Tab], site: Site, gateway: FakeGateway
) -> None:
    tab = new_tab(person=True)  # the demo's script tag has no test opt-in: a person's browser
    gateway.totals["second-post"] = [8, 8]
    gateway.reading["second-post"] = 2
    tab.page.goto(demo_page(site, gateway, "/posts/second-post", "posts/second-post.html"))
    counters = ("main [data-views-for=second-post]", "main [data-reading-now-for=second-post]")
    wait_until(lambda: shown(tab, *counters) == ["9", "2"], what="the view's reply")

    gateway.push(counts("second-post", 10, 3))

    wait_until(lambda: shown(tab, *counters) == ["10", "3"], what="the push")
