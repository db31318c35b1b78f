"""The client in Chromium both ways: skipped when automated, counted as a person's browser
or with the tests' opt-in; and it sends the blog's post signature (no backend needed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .support import PREFIX, FakeGateway, Site, Tab
from .test_client import assert_nothing_sent, views_after

pytestmark = pytest.mark.slow

HEADLESS_UA = "Object.defineProperty(Navigator.prototype, 'userAgent', {get: () => 'Mozilla/5.0 HeadlessChrome/131'});"
POST = 'data-allow-localhost data-article-id="hello-world" data-article-title="Hello World"'
SIG = "ab" * 32


def test_automated_browser_not_counted_and_says_why_once(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    """Playwright's Chromium has navigator.webdriver and a HeadlessChrome user agent."""
    tab.page.goto(site.add("/", gateway.url, allow_automation=False))
    tab.page.evaluate("history.pushState({}, '', '/pages/about'); BlogAnalytics.view()")

    assert_nothing_sent(gateway, tab)
    assert tab.said() == [f"{PREFIX} not counted: automated"]


def test_headless_user_agent_seen_even_without_webdriver(
    new_tab: Callable[..., Tab], site: Site, gateway: FakeGateway
) -> None:
    """A person's browser but for a HeadlessChrome user agent: still not counted."""
    tab = new_tab(HEADLESS_UA, person=True)
    tab.page.goto(site.add("/", gateway.url, allow_automation=False))

    assert_nothing_sent(gateway, tab)
    assert tab.said() == [f"{PREFIX} not counted: automated"]


def test_persons_browser_counted_without_any_opt_in(
    new_tab: Callable[..., Tab], site: Site, gateway: FakeGateway
) -> None:
    tab = new_tab(person=True)
    tab.page.goto(site.add("/", gateway.url, allow_automation=False))

    assert len(views_after(gateway, 1)) == 1
    assert tab.said() == []


def test_tests_opt_in_counts_in_an_automated_browser(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    tab.page.goto(site.add("/", gateway.url))  # data-allow-automation, as every test page
    assert len(views_after(gateway, 1)) == 1


def test_opt_in_also_given_to_init(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    url = site.add("/", "", allow_automation=False, attrs="data-allow-localhost")
    tab.page.goto(url)
    tab.page.evaluate(f"BlogAnalytics.init({{endpoint: {gateway.url!r}, allowAutomation: true}})")
    assert len(views_after(gateway, 1)) == 1


def test_article_signature_sent_from_the_script_tag(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    tab.page.goto(site.add("/posts/hello-world", gateway.url, attrs=f'{POST} data-article-sig="{SIG}"'))
    [message] = views_after(gateway, 1)
    assert message["articleSig"] == SIG and message["articleTitle"] == "Hello World"


def test_article_signature_given_to_view_and_absent_when_unsigned(tab: Tab, site: Site, gateway: FakeGateway) -> None:
    tab.page.goto(site.add("/", gateway.url, attrs='data-allow-localhost data-auto="false"'))
    tab.page.evaluate(f"BlogAnalytics.view({{articleId: 'hello-world', articleSig: {SIG!r}}})")
    assert views_after(gateway, 1)[0]["articleSig"] == SIG
    tab.page.evaluate("BlogAnalytics.view({articleId: 'second-post'})")
    assert "articleSig" not in views_after(gateway, 2)[1]
