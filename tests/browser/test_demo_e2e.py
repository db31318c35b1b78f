"""The demo blog in headless Chromium against the real local stack (`python -m local`).

A fresh stack counts from zero, so after a known walk through the blog every count has
one exact expected value. Counting is asynchronous (SNS -> SQS -> counter -> stream ->
reader), so the test waits for the home page's table, which watches every post and page
and is kept current by live pushes (so the walk needs the server side of live counts), to
settle on those values.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .support import PREFIX, REPO, SETTLE_SECONDS, Stack, Tab, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (REPO / "local" / "__main__.py").exists(), reason="the local stack (local/) is missing"),
]

KEYS = ("Home_Page", "About_Page", "Contact_Page", "hello-world", "second-post")


def shown_counts(tab: Tab) -> dict[str, list[str]]:
    """The home page's table: key -> [total, unique] as displayed."""
    counts: dict[str, list[str]] = tab.page.evaluate(
        """keys => Object.fromEntries(keys.map(k => [k, [
             document.querySelector(`#counts [data-views-for="${k}"]`).textContent,
             document.querySelector(`#counts [data-unique-for="${k}"]`).textContent,
           ]]))""",
        list(KEYS),
    )
    return counts


def test_demo_counts_a_walk_through_the_blog_exactly(new_tab: Callable[..., Tab], stack: Stack) -> None:
    tab = new_tab(person=True)
    page = tab.page

    page.goto(stack.origin + "/")
    page.click("nav >> text=Hello World")
    page.wait_for_url("**/posts/hello-world")
    wait_until(lambda: page.text_content("main [data-views-for=hello-world]") != "…", what="the post's view reply")
    page.reload()
    wait_until(lambda: page.text_content("main [data-views-for=hello-world]") != "…", what="the reload's view reply")
    for label, path in (
        ("About", "/pages/about"),
        ("Contacts", "/pages/contacts"),
        ("Second Post", "/posts/second-post"),
        ("Home", "/"),
    ):
        page.click(f"nav >> text={label}")
        page.wait_for_url(stack.origin + path)

    expected = {
        "Home_Page": ["2", "2"],
        "About_Page": ["1", "1"],
        "Contact_Page": ["1", "1"],
        "hello-world": ["2", "1"],  # the reload counts toward total views, not unique ones
        "second-post": ["1", "1"],
    }
    wait_until(
        lambda: shown_counts(tab) == expected,
        SETTLE_SECONDS,
        f"the home page to show {expected}",
        lambda: shown_counts(tab),
    )
    page.wait_for_timeout(3500)  # a few push intervals: the numbers stay put, nothing double-counts
    assert shown_counts(tab) == expected
    assert [line for line in tab.console if line.startswith(PREFIX)] == [], "no view was refused"


def test_demo_post_page_shows_its_stored_count(new_tab: Callable[..., Tab], stack: Stack) -> None:
    tab = new_tab(person=True)
    stats = "BlogAnalytics.stats(['second-post']).then(r => r.articles[0].totalViews)"
    tab.page.goto(stack.origin + "/pages/about")
    before = tab.page.evaluate(stats)

    tab.page.goto(stack.origin + "/posts/second-post")

    wait_until(lambda: tab.page.evaluate(stats) == before + 1, SETTLE_SECONDS, "the post view to be counted")
    tab.page.reload()
    shown = wait_until(
        lambda: (text := tab.page.text_content("main [data-views-for=second-post]")) != "…" and text,
        what="the post's own count",
    )
    assert int(shown) >= before + 1, "the reply carries the count stored when the view arrived"
