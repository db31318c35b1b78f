"""A view whose reply never came is resent by the client and counted once by the real stack.

Headless Chromium loads a page whose client talks to the local stack (`python -m local`)
through a `Relay`: every frame reaches the real gateway and is counted there, but the
relay loses the first reply (closing the browser's connection) or turns it into
`unavailable`, as when SNS accepted the publish and its response timed out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from .support import SETTLE_SECONDS, Relay, Site, Stack, Tab, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def relay(stack: Stack) -> Iterator[Relay]:
    relay = Relay(stack.ws_url, origin=stack.origin)  # the gateway's own origin is always admitted
    yield relay
    relay.stop()


def read_post(tab: Tab, site: Site, relay: Relay) -> str:
    """Opens a post page of a new article through the relay; returns the article id
    once the page shows the count its view was answered with."""
    article = f"resent-{uuid.uuid4().hex[:12]}"
    url = site.add(
        f"/posts/{article}",
        relay.url,
        attrs=f'data-allow-localhost data-article-id="{article}"',
        body=f'<span id="n" data-views-for="{article}">…</span>',
    )
    tab.page.goto(url)
    wait_until(lambda: tab.page.text_content("#n") != "…", SETTLE_SECONDS, "the resent view's reply")
    return article


def counted(stack: Stack, article: str) -> tuple[int, int] | None:
    """The post's counts once the counter has taken every message published so far."""
    wait_until(lambda: stack.queue_depth("post_view") == 0, SETTLE_SECONDS, "the post_view queue to drain")
    return stack.post_counts(article)


@pytest.mark.parametrize(
    ("fault", "connections"),
    [("lose", 2), ("unavailable", 1)],
    ids=["reply_lost_in_a_disconnect", "answered_unavailable_after_it_was_published"],
)
def test_view_resent_is_counted_once(
    tab: Tab, site: Site, stack: Stack, relay: Relay, fault: str, connections: int
) -> None:
    setattr(relay, fault, 1)

    article = read_post(tab, site, relay)

    first, resent = relay.views
    assert first == resent, "the same frame again, with the same viewId"
    assert relay.connections == connections, "a lost reply is resent on a new connection"
    assert counted(stack, article) == (1, 1)
