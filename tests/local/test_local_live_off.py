"""Live counts off (`--live-interval 0`, a stack's liveIntervalSeconds 0), end to end:
views are counted and answered with their counts, but nothing follows a connection."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from local_support import LocalStack, wait_until
from test_local_live import PUSH_SECONDS, Reader, new_article, reader_total

QUIET_SECONDS = 3.0
"""How long a reader listens for a push that must not come (the live stack pushes within 1-2 s)."""


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    running = LocalStack.start("--live-interval", "0")
    yield running
    code = running.terminate()
    assert code == 0, running.stderr()


def test_live_off_counts_views_without_reading_now_pushes_or_connection_items(stack: LocalStack) -> None:
    article = new_article()
    first, second = Reader(stack), Reader(stack)
    replies = [first.view(article), second.view(article)]
    assert [r["status"] for r in replies] == ["ok", "ok"], replies
    assert all("readingNow" not in r for r in replies), replies
    wait_until(lambda: reader_total(stack, article) == 2, PUSH_SECONDS, "both views counted")

    watched = first.ask({"message": "watch", "articleIds": [article], "reading": {"articleId": article}})
    assert [(a["totalViews"], "readingNow" in a) for a in watched["articles"]] == [(2, False)], watched

    assert first._take(QUIET_SECONDS) is None, "live counts off: nothing is pushed"
    first.close()
    second.close()
    ddb = stack.client("dynamodb")
    items = ddb.scan(TableName=stack.table("Connections"))["Items"]
    # No views budget (the local default) and no live counts: nothing per connection at all.
    assert items == [], json.dumps(items)


def test_live_off_with_a_views_budget_keeps_its_count_only_while_the_socket_is_open() -> None:
    budgeted = LocalStack.start("--live-interval", "0", "--views-per-connection", "2")
    try:
        article = new_article()
        reader = Reader(budgeted)
        assert [reader.view(article).get("error") for _ in range(3)] == [None, None, "rate_limited"]
        ddb = budgeted.client("dynamodb")
        table = budgeted.table("Connections")
        items = ddb.scan(TableName=table)["Items"]
        assert [(i["sk"]["S"], i["views"]["N"], "target" in i) for i in items] == [("conn", "2", False)], items
        reader.close()
        wait_until(lambda: ddb.scan(TableName=table)["Items"] == [], PUSH_SECONDS, "$disconnect forgot it")
    finally:
        assert budgeted.terminate() == 0, budgeted.stderr()
