"""client/analytics.js in headless Chromium against a fake gateway (no backend needed).

Every test also checks, through the `new_tab` fixture, that no exception reached the page.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from .support import PREFIX, FakeGateway, Site, Tab, wait_until

pytestmark = pytest.mark.slow  # each test drives a real browser

DNT_ON = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'});"
GPC_ON = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});"
# A page that starts prerendered; window.activate() shows it as a browser would.
PRERENDERED = """
let prerendering = true;
Object.defineProperty(Document.prototype, 'prerendering', {get: () => prerendering});
Object.defineProperty(Document.prototype, 'visibilityState', {get: () => prerendering ? 'hidden' : 'visible'});
window.activate = () => {
  prerendering = false;
  document.dispatchEvent(new Event('prerenderingchange'));
  document.dispatchEvent(new Event('visibilitychange'));
};
"""


def views_after(gateway: FakeGateway, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Waits until the gateway has at least `count` views messages and returns them all."""
    wait_until(lambda: len(gateway.views) >= count, timeout, f"{count} views messages")
    return gateway.views


def without_view_id(message: dict[str, Any]) -> dict[str, Any]:
    """The message minus its viewId: two random 64-bit numbers, which the server's rule admits."""
    rest = dict(message)
    view_id = rest.pop("viewId", "")
    assert re.fullmatch(r"[0-9]{1,20}-[0-9]{1,20}", view_id), f"no valid viewId in {message}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,64}", view_id), "the contract's viewId rule (3.1.1)"
    return rest


def assert_nothing_sent(gateway: FakeGateway, tab: Tab) -> None:
    """Gives the client a moment, then checks that it never connected."""
    tab.page.wait_for_timeout(300)
    assert gateway.connections == 0, f"the client connected: {gateway.frames}"


# --- the views message --------------------------------------------------------------


def test_load_sends_one_views_message_with_the_page_fields(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    url = site.add(
        "/posts/hello-world",
        gateway.url,
        attrs='data-allow-localhost data-article-id="hello-world" data-article-title="Hello World"',
    )

    tab.page.goto(url)

    [message] = views_after(gateway, 1)
    assert without_view_id(message) == {
        "message": "views",
        "articleId": "hello-world",
        "articleTitle": "Hello World",
        "currentPage": "/posts/hello-world",
        "refreshed": False,
    }
    assert gateway.origins == [site.origin], "one WebSocket, opened with the page's Origin"


def test_load_reads_the_article_from_meta_tags(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    head = (
        '<meta name="blog-analytics:article-id" content="second-post">'
        '<meta name="blog-analytics:article-title" content="Second Post">'
    )
    tab.page.goto(site.add("/posts/second-post", gateway.url, head=head))

    [message] = views_after(gateway, 1)
    assert (message["articleId"], message["articleTitle"]) == ("second-post", "Second Post")


def test_reload_sets_refreshed_on_the_first_view_only(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    tab.page.goto(site.add("/", gateway.url))
    views_after(gateway, 1)

    tab.page.reload()
    views_after(gateway, 2)
    tab.page.evaluate("history.pushState({}, '', '/pages/about')")

    first, reloaded, navigated = views_after(gateway, 3)
    assert first["refreshed"] is False
    assert reloaded["refreshed"] is True, "a reload counts toward total views only"
    assert navigated["refreshed"] is False, "an SPA navigation is not a reload"
    assert gateway.connections == 2, "one WebSocket per page load"


def test_spa_navigation_counts_pushstate_popstate_and_rereads_meta(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    head = '<meta name="blog-analytics:article-id" content="hello-world">'
    tab.page.goto(site.add("/posts/hello-world", gateway.url, head=head))
    views_after(gateway, 1)

    tab.page.evaluate(
        """() => {
          document.querySelector('meta[name="blog-analytics:article-id"]').content = 'second-post';
          history.pushState({}, '', '/posts/second-post');
        }"""
    )
    views_after(gateway, 2)
    tab.page.evaluate("history.back()")

    _, pushed, popped = views_after(gateway, 3)
    assert without_view_id(pushed) == {
        "message": "views",
        "articleId": "second-post",
        "currentPage": "/posts/second-post",
        "refreshed": False,
    }
    assert popped["currentPage"] == "/posts/hello-world"
    assert gateway.connections == 1, "SPA navigations reuse the page's WebSocket"


def test_spa_replacestate_is_no_navigation(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    """replaceState rewrites the current entry (a redirect, a query update), as Plausible's
    script reads it too: counting it would count a redirected page twice."""
    tab.page.goto(site.add("/", gateway.url))
    views_after(gateway, 1)

    tab.page.evaluate("history.replaceState({scroll: 1}, '', '/?tab=2#top')")
    tab.page.evaluate("history.replaceState({}, '', '/pages/contacts')")
    tab.page.evaluate("history.pushState({}, '', '/pages/about')")

    views_after(gateway, 2)
    tab.page.wait_for_timeout(200)
    assert [v["currentPage"] for v in gateway.views] == ["/", "/pages/about"]


def test_view_call_counts_with_the_given_article_when_auto_is_off(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    tab.page.goto(site.add("/", gateway.url, attrs='data-allow-localhost data-auto="false"'))
    tab.page.evaluate("history.pushState({}, '', '/posts/hello-world')")
    tab.page.wait_for_timeout(200)
    assert gateway.views == [], "data-auto=false counts nothing by itself"

    tab.page.evaluate("BlogAnalytics.view({articleId: 'hello-world', articleTitle: 'Hello World'})")

    [message] = views_after(gateway, 1)
    assert message["articleId"] == "hello-world"
    assert message["articleTitle"] == "Hello World"
    assert message["currentPage"] == "/posts/hello-world"


def test_view_title_sent_without_invisible_format_characters(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    tab.page.goto(site.add("/", gateway.url, attrs='data-allow-localhost data-auto="false"'))

    tab.page.evaluate(
        "BlogAnalytics.view({articleId: 'a', articleTitle: 'Caf\\u00e9 \\u202eabc\\u202c soft\\u00adhyphen'})"
    )

    [message] = views_after(gateway, 1)
    assert message["articleTitle"] == "Caf\u00e9 abc softhyphen", "the server refuses Unicode Cf characters"


def test_init_starts_a_page_whose_script_tag_has_no_endpoint(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    tab.page.goto(site.add("/pages/about", "", attrs=""))
    tab.page.wait_for_timeout(200)
    assert gateway.connections == 0

    tab.page.evaluate(f"BlogAnalytics.init({{endpoint: '{gateway.url}', allowLocalhost: true}})")

    [message] = views_after(gateway, 1)
    assert message["currentPage"] == "/pages/about"


# --- referrer -----------------------------------------------------------------------


def test_referrer_external_is_sent_as_its_origin_only(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    url = site.add("/posts/hello-world", gateway.url)

    tab.page.goto(url, referer="https://news.ycombinator.com/item?id=1#c")

    [message] = views_after(gateway, 1)
    assert message["referrer"] == "https://news.ycombinator.com", "a path never leaves the browser"
    assert "previousPage" not in message


def test_referrer_internal_is_not_sent(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    site.add("/", gateway.url, body='<a id="go" href="/pages/about">About</a>')
    site.add("/pages/about", gateway.url)
    tab.page.goto(site.origin + "/")
    views_after(gateway, 1)

    tab.page.click("#go")

    _, about = views_after(gateway, 2)
    assert about["currentPage"] == "/pages/about"
    assert "referrer" not in about, "the blog's own pages are not referrers"
    assert "previousPage" not in about, "nothing on the server reads it, so it is not sent"


def test_referrer_only_on_the_first_view_of_a_page_load(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    tab.page.goto(site.add("/", gateway.url), referer="https://example.org/list")
    views_after(gateway, 1)

    tab.page.evaluate("history.pushState({}, '', '/pages/about')")

    first, second = views_after(gateway, 2)
    assert first["referrer"] == "https://example.org"
    assert "referrer" not in second


# --- skipping -----------------------------------------------------------------------


def test_skip_on_localhost_says_why_once(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    tab.page.goto(site.add("/", gateway.url, attrs=""))
    tab.page.evaluate("history.pushState({}, '', '/pages/about'); BlogAnalytics.view()")

    assert_nothing_sent(gateway, tab)
    assert tab.said() == [f"{PREFIX} not counted: localhost"]


def test_skip_when_do_not_track_is_on(new_tab: Callable[..., Tab], site: Site, gateway: FakeGateway) -> None:
    tab = new_tab(DNT_ON)
    tab.page.goto(site.add("/", gateway.url))
    tab.page.evaluate("history.pushState({}, '', '/pages/about')")

    assert_nothing_sent(gateway, tab)
    assert tab.said() == [f"{PREFIX} not counted: Do-Not-Track/GPC"]


def test_skip_when_global_privacy_control_is_on(new_tab: Callable[..., Tab], site: Site, gateway: FakeGateway) -> None:
    tab = new_tab(GPC_ON)
    tab.page.goto(site.add("/", gateway.url))

    assert_nothing_sent(gateway, tab)
    assert tab.said() == [f"{PREFIX} not counted: Do-Not-Track/GPC"]
    assert tab.page.evaluate("BlogAnalytics.stats(['a'])") is None, "stats resolves null when off"


def test_do_not_track_is_always_respected(new_tab: Callable[..., Tab], site: Site, gateway: FakeGateway) -> None:
    """Private by design: the blog cannot opt out of a reader's Do-Not-Track or GPC."""
    tab = new_tab(DNT_ON + GPC_ON)
    tab.page.goto(site.add("/", gateway.url, attrs='data-allow-localhost data-respect-dnt="false"'))

    assert_nothing_sent(gateway, tab)
    assert tab.said() == [f"{PREFIX} not counted: Do-Not-Track/GPC"]


def test_prerender_waits_until_the_page_is_shown(new_tab: Callable[..., Tab], site: Site, gateway: FakeGateway) -> None:
    tab = new_tab(PRERENDERED)
    tab.page.goto(site.add("/", gateway.url))
    assert_nothing_sent(gateway, tab)

    tab.page.evaluate("activate()")

    [message] = views_after(gateway, 1)
    assert message["currentPage"] == "/"
    assert gateway.connections == 1


# --- counts on the page -------------------------------------------------------------


def test_views_reply_fills_data_views_for(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    gateway.totals["hello-world"] = [41, 30]
    body = '<p><span id="count" data-views-for="hello-world">-</span> views</p><p id="other" data-views-for="x">-</p>'
    attrs = 'data-allow-localhost data-article-id="hello-world"'

    tab.page.goto(site.add("/posts/hello-world", gateway.url, attrs=attrs, body=body))

    wait_until(lambda: tab.page.text_content("#count") == "42", what="the count on the page")
    assert tab.page.text_content("#other") == "-"


def test_on_counts_callback_gets_the_reply(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    tab.page.goto(site.add("/pages/about", gateway.url, attrs='data-allow-localhost data-auto="false"'))
    tab.page.evaluate("window.replies = []; BlogAnalytics.onCounts(r => replies.push(r)); BlogAnalytics.view()")

    replies = wait_until(lambda: tab.page.evaluate("replies"), what="the onCounts callback")
    assert replies == [
        {"message": "views", "status": "ok", "page": "About_Page", "totalViews": 1, "uniqueViews": 1, "readingNow": 1}
    ]


def test_stats_resolves_the_reply_and_fills_the_page(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    gateway.totals.update({"hello-world": [5, 4], "second-post": [2, 2]})
    body = "".join(
        f'<b id="{i}" data-views-for="{key}"></b>'
        for i, key in (("a", "hello-world"), ("b", "second-post"), ("h", "Home_Page"))
    )
    attrs = 'data-allow-localhost data-auto="false"'
    tab.page.goto(site.add("/pages/contacts", gateway.url, attrs=attrs, body=body))

    reply = tab.page.evaluate("BlogAnalytics.stats(['hello-world', 'second-post'])")

    assert reply["message"] == "stats"
    assert [a["totalViews"] for a in reply["articles"]] == [5, 2]
    assert [m for _, m in gateway.frames] == [{"message": "stats", "articleIds": ["hello-world", "second-post"]}]
    assert [tab.page.text_content(s) for s in ("#a", "#b", "#h")] == ["5", "2", "0"]


# --- failures -----------------------------------------------------------------------


def test_queue_resends_views_made_while_the_server_dropped_the_connection(
    tab: Tab, site: Site, gateway: FakeGateway
) -> None:
    tab.page.goto(site.add("/", gateway.url))
    views_after(gateway, 1)
    gateway.drop_connections()
    tab.page.wait_for_timeout(100)

    tab.page.evaluate("history.pushState({}, '', '/pages/about'); history.pushState({}, '', '/pages/contacts')")

    views_after(gateway, 3)
    assert [(n, m.get("currentPage") or m) for n, m in gateway.frames] == [
        (0, "/"),
        # follows and reads its page again
        (1, {"message": "watch", "articleIds": [], "pages": ["Home_Page"], "reading": {"page": "Home_Page"}}),
        (1, "/pages/about"),
        (1, "/pages/contacts"),
    ]


def test_queue_keeps_the_newest_fifty_while_the_gateway_refuses(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    gateway.refuse = True
    tab.page.goto(site.add("/", gateway.url))
    tab.page.evaluate("for (let i = 1; i <= 60; i++) history.pushState({}, '', '/p' + i)")
    tab.page.wait_for_timeout(300)

    gateway.refuse = False

    views = views_after(gateway, 50, timeout=10)
    tab.page.wait_for_timeout(300)
    assert len(gateway.views) == 50
    assert views[0]["currentPage"] == "/p11" and views[-1]["currentPage"] == "/p60"


def test_unavailable_error_is_retried_with_the_same_message(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    gateway.replies.append({"message": "error", "error": "unavailable"})
    tab.page.goto(site.add("/", gateway.url))

    first, retried = views_after(gateway, 2)

    assert first == retried, "the same viewId: the server counts the view once"
    assert tab.said() == []


def test_view_ids_are_new_for_every_view(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    site.add("/pages/about", gateway.url)
    tab.page.goto(site.add("/", gateway.url))
    tab.page.evaluate("history.pushState({}, '', '/pages/about'); BlogAnalytics.view()")
    views_after(gateway, 3)
    tab.page.reload()

    views = views_after(gateway, 4)
    assert all(without_view_id(v) for v in views)
    assert len({v["viewId"] for v in views}) == 4


def test_view_whose_reply_was_lost_is_resent_after_reconnecting(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    gateway.lose = 1  # the gateway closes the connection instead of replying
    url = site.add("/", gateway.url, body='<span id="n" data-views-for="Home_Page">…</span>')
    tab.page.goto(url)

    wait_until(lambda: tab.page.text_content("#n") != "…", what="the resent view's reply")
    assert gateway.frames == [(0, gateway.views[0]), (1, gateway.views[0])], "the same frame, same viewId"
    assert tab.said() == []


def test_stats_whose_reply_was_lost_is_asked_again(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    tab.page.goto(site.add("/", gateway.url))
    views_after(gateway, 1)
    gateway.lose = 1

    reply = tab.page.evaluate("BlogAnalytics.stats(['a'])")

    assert reply["articles"] == [{"articleId": "a", "totalViews": 0, "uniqueViews": 0}]
    assert [(n, m["message"]) for n, m in gateway.frames] == [(0, "views"), (0, "stats"), (1, "watch"), (1, "stats")]


def test_unanswered_view_given_up_after_three_resends(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    gateway.lose = 10
    tab.page.goto(site.add("/", gateway.url))

    views_after(gateway, 4, timeout=20)
    # wait_for_timeout lets playwright deliver the page's console lines; time.sleep does not
    wait_until(lambda: tab.page.wait_for_timeout(100) or tab.said(), 20, "the client to give up")
    assert tab.said() == [f"{PREFIX} gave up"]
    assert len(gateway.views) == 4 and len({v["viewId"] for v in gateway.views}) == 1


@pytest.mark.parametrize("code", ["invalid_event", "rate_limited"])
def test_other_errors_are_logged_once_and_not_retried(tab: Tab, site: Site, gateway: FakeGateway, code: str) -> None:
    bad = {"message": "error", "error": code, "detail": "articleId: at most 128 characters"}
    gateway.replies.extend([bad, bad])
    tab.page.goto(site.add("/", gateway.url))
    views_after(gateway, 1)

    tab.page.evaluate("history.pushState({}, '', '/pages/about')")

    views_after(gateway, 2)
    tab.page.wait_for_timeout(1200)
    assert len(gateway.views) == 2, f"{code} is not retried"
    assert tab.said() == [f"{PREFIX} server error: articleId: at most 128 characters"]


def test_bad_endpoint_never_throws_into_the_page(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    tab.page.goto(site.add("/", "ftp://example.org/"))

    stats = tab.page.evaluate("BlogAnalytics.view(); BlogAnalytics.stats()")
    tab.page.evaluate("history.pushState({}, '', '/pages/about')")

    assert stats is None
    assert len(tab.said()) == 1 and tab.said()[0].startswith(f"{PREFIX} error: SyntaxError")
    # the fixture fails the test if any pageerror was seen


def test_script_included_twice_counts_once(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    attrs = "data-allow-localhost data-allow-automation"
    body = f'<script src="/analytics.js" data-endpoint="{gateway.url}" {attrs}></script>'
    tab.page.goto(site.add("/", gateway.url, body=body))
    views_after(gateway, 1)
    time.sleep(0.3)
    assert len(gateway.views) == 1
