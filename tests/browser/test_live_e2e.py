"""Live counts end to end: headless Chromium tabs on `python -m local`, nothing scripted.

These need the server side of live counts (ARCHITECTURE.md 3.1.2: readingNow in the views
reply, the `watch` route, `counts` pushes from the fan-out). Each module fixture starts its
own stack, so counts start from zero and the shared `stack` of the other browser tests is
left alone; its pages come from a `Site` on another port, admitted with --allowed-origin.

What a reader sees: a second tab's count and readingNow move without a reload when a third
reader arrives and when one leaves; a home page's watched post moves too; a socket that the
gateway closes for idleness (here after 2 s, on AWS after 10 minutes) is reopened and
follows the post again with `watch`, not a new view, and is one of its readers again
(`reading`), as is a tab hidden past that close and shown again.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from local import launcher

from .support import SETTLE_SECONDS, START_SECONDS, VISIBILITY, Site, Tab, wait_until

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class LiveStack:
    ready: launcher.Ready
    site: Site

    def post(self, article: str) -> str:
        """A post page of the test's own article, on the Site, talking to the stack."""
        return self.site.add(
            f"/posts/{article}",
            self.ready.ws_url,
            attrs=f'data-allow-localhost data-article-id="{article}" data-article-title="Live {article}"',
            body=(
                f'<b id="views" data-views-for="{article}">-</b> views, '
                f'<b id="reading" data-reading-now-for="{article}">-</b> reading now'
            ),
        )


@contextlib.contextmanager
def live_stack(*args: str) -> Iterator[LiveStack]:
    site = Site()
    log = Path(tempfile.mkstemp(prefix="live-stack-", suffix=".log")[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log.open("w") as stderr:
        try:
            process, ready = launcher.launch(
                ("--allowed-origin", site.origin, *args), env=env, stderr=stderr, timeout=START_SECONDS
            )
        except RuntimeError as exc:
            site.stop()
            pytest.fail(f"{exc}\n{log.read_text()}")
    try:
        yield LiveStack(ready, site)
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            launcher.stop(process, 10)
        site.stop()
        log.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStack]:
    with live_stack() as running:
        yield running


def new_article() -> str:
    return f"live-{uuid.uuid4().hex[:12]}"


def writer_total(live: LiveStack, url: str) -> int:
    """The post's totalViews as counted (the writer table), read consistently."""
    item = live.ready.client("dynamodb").get_item(
        TableName=live.ready.table("PostCountWriter"),
        Key={"articleId": {"S": url.rsplit("/", 1)[1]}},
        ConsistentRead=True,
    )["Item"]
    return int(item["totalViews"]["N"])


def shown(tab: Tab) -> tuple[str | None, str | None]:
    return tab.page.text_content("#views"), tab.page.text_content("#reading")


def read(new_tab: Callable[..., Tab], url: str) -> Tab:
    """A reader: a tab on the post, marked so that a reload would show (the mark would be gone)."""
    tab = new_tab(person=True)
    tab.page.goto(url)
    wait_until(lambda: shown(tab)[1] != "-", SETTLE_SECONDS, "the view's reply")
    tab.page.evaluate("window.notReloaded = true")
    return tab


def test_second_tab_sees_count_and_reading_now_move_without_reload(
    new_tab: Callable[..., Tab], live: LiveStack
) -> None:
    url = live.post(new_article())
    read(new_tab, url)
    second = read(new_tab, url)

    third = read(new_tab, url)

    wait_until(lambda: shown(second) == ("3", "3"), SETTLE_SECONDS, "3 views and 3 reading", lambda: shown(second))
    third.page.close()
    wait_until(lambda: shown(second)[1] == "2", SETTLE_SECONDS, "readingNow 2 once a tab closed", lambda: shown(second))
    assert shown(second)[0] == "3", "a tab leaving changes no count"
    assert second.page.evaluate("window.notReloaded") is True


def test_home_page_follows_a_listed_post_and_counts_nothing(new_tab: Callable[..., Tab], live: LiveStack) -> None:
    home = new_tab(person=True)
    home.page.goto(live.ready.origin + "/")  # the demo's home page lists and watches hello-world
    item = "li:has(a[href='/posts/hello-world']) [data-views-for]"
    wait_until(lambda: home.page.text_content(item) == "0", SETTLE_SECONDS, "the watch reply")

    reader = new_tab(person=True)
    reader.page.goto(live.ready.origin + "/posts/hello-world")

    wait_until(lambda: home.page.text_content(item) == "1", SETTLE_SECONDS, "the post's push on the home page")
    reader.page.close()
    home.page.wait_for_timeout(3000)  # a few push intervals: watching counted nothing more
    assert home.page.text_content(item) == "1"


def test_socket_closed_for_idleness_follows_again_with_watch(new_tab: Callable[..., Tab]) -> None:
    with live_stack("--idle-timeout", "2") as live:
        url = live.post(new_article())
        first = read(new_tab, url)
        first.page.wait_for_timeout(5000)  # the gateway closes the quiet socket; the client reopens it

        other = new_tab(person=True)
        other.page.goto(url)

        wait_until(
            lambda: shown(first)[0] == "2", SETTLE_SECONDS, "a push on the reopened socket", lambda: shown(first)
        )
        assert writer_total(live, url) == 2, "following again after the reconnect was not a view"


def test_tab_hidden_past_the_close_and_shown_again_reads_again(new_tab: Callable[..., Tab]) -> None:
    with live_stack("--idle-timeout", "2") as live:
        url = live.post(new_article())
        hidden = new_tab(VISIBILITY, person=True)
        hidden.page.goto(url)
        wait_until(lambda: shown(hidden)[1] == "1", SETTLE_SECONDS, "the view's reply")
        hidden.page.evaluate("setHidden(true)")
        other = read(new_tab, url)
        wait_until(lambda: shown(other)[1] == "2", SETTLE_SECONDS, "both reading", lambda: shown(other))
        # Hidden, the tab does not reopen the socket the gateway closed: it stops reading.
        wait_until(lambda: shown(other)[1] == "1", SETTLE_SECONDS, "the closed tab gone", lambda: shown(other))

        hidden.page.evaluate("setHidden(false)")

        wait_until(lambda: shown(other)[1] == "2", SETTLE_SECONDS, "the shown tab reading again", lambda: shown(other))
        wait_until(lambda: shown(hidden) == ("2", "2"), SETTLE_SECONDS, "its own push", lambda: shown(hidden))
        assert writer_total(live, url) == 2, "reading again was not a view"
