"""Live counts end to end: real WebSocket clients against `python -m local`.

Pushes arrive on the same socket as replies, so a Reader keeps the pushes it reads while
waiting for a reply, and checks on every push that the counts it shows never go backwards.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from local_support import LocalStack, wait_until
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

PUSH_SECONDS = 20.0
INTERVAL = "1"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    running = LocalStack.start("--live-interval", INTERVAL)
    yield running
    code = running.terminate()
    assert code == 0, running.stderr()


class Reader:
    """One browser tab: a socket, the pushes it received, in order."""

    def __init__(self, stack: LocalStack) -> None:
        # Entered as a context manager, as websockets asks; close() leaves it.
        self.ws: ClientConnection = connect(stack.ws_url, origin=Origin(stack.origin), open_timeout=5).__enter__()
        self.pushes: list[dict[str, Any]] = []

    def _take(self, timeout: float) -> dict[str, Any] | None:
        try:
            message: dict[str, Any] = json.loads(self.ws.recv(timeout))
        except TimeoutError:
            return None
        if message.get("message") == "counts":
            shown = [p for p in self.pushes if _same_target(p, message)]
            if shown:
                assert message["totalViews"] >= shown[-1]["totalViews"], "counts went backwards"
                assert message["uniqueViews"] >= shown[-1]["uniqueViews"], "counts went backwards"
            self.pushes.append(message)
        return message

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            reply = self._take(1)
            if reply is not None and reply.get("message") != "counts":
                return reply
        pytest.fail(f"no reply to {message}")

    def view(self, article_id: str) -> dict[str, Any]:
        return self.ask({"message": "views", "articleId": article_id, "articleTitle": "Live"})

    def wait_push(self, what: str, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        def seen() -> dict[str, Any] | None:
            found = next((p for p in reversed(self.pushes) if condition(p)), None)
            if found is None:
                self._take(0.2)
            return found

        found: dict[str, Any] = wait_until(seen, PUSH_SECONDS, what, interval=0)
        return found

    def close(self) -> None:
        self.ws.close()


def _same_target(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a.get("articleId"), a.get("page")) == (b.get("articleId"), b.get("page"))


def new_article() -> str:
    return f"live-{uuid.uuid4().hex[:10]}"


def reader_total(stack: LocalStack, article_id: str) -> int:
    item = (
        stack.client("dynamodb")
        .get_item(TableName=stack.table("PostCountReader"), Key={"articleId": {"S": article_id}}, ConsistentRead=True)
        .get("Item", {})
    )
    return int(item.get("totalViews", {}).get("N", 0))


def test_live_third_readers_view_reaches_both_and_a_close_lowers_readingnow(stack: LocalStack) -> None:
    article = new_article()
    one, two, three = Reader(stack), Reader(stack), Reader(stack)
    assert one.view(article)["readingNow"] == 1
    assert two.view(article)["readingNow"] == 2
    assert three.view(article)["readingNow"] == 3
    for reader in (one, two):
        push = reader.wait_push("3 views, 3 reading", lambda p: p["totalViews"] == 3 and p["readingNow"] == 3)
        assert push["articleId"] == article and push["uniqueViews"] == 3
    three.close()
    one.wait_push("readingNow back to 2", lambda p: p["readingNow"] == 2)
    one.close()
    two.wait_push("readingNow 1", lambda p: p["readingNow"] == 1)
    two.close()


def test_live_watch_counts_nothing_and_receives_pushes(stack: LocalStack) -> None:
    article = new_article()
    reader, watcher = Reader(stack), Reader(stack)
    reader.view(article)
    wait_until(lambda: reader_total(stack, article) == 1, PUSH_SECONDS, "the view counted")
    reply = watcher.ask({"message": "watch", "articleIds": [article], "pages": ["Home_Page"]})
    assert reply["status"] == "ok" and reply["articles"][0]["totalViews"] == 1
    assert [p["page"] for p in reply["pages"]] == ["Home_Page"]
    assert Reader(stack).view(article)["readingNow"] == 2, "the watcher is not reading"
    watcher.wait_push("the second view", lambda p: p.get("articleId") == article and p["totalViews"] == 2)
    time.sleep(2)
    assert reader_total(stack, article) == 2, "watch counted a view"
    refused = watcher.ask({"message": "watch", "articleIds": [f"a{i}" for i in range(51)]})
    assert refused["error"] == "invalid_event"
    reader.close()
    watcher.close()


def test_live_navigation_moves_readingnow(stack: LocalStack) -> None:
    first, second = new_article(), new_article()
    stays, moves = Reader(stack), Reader(stack)
    stays.view(first)
    assert moves.view(first)["readingNow"] == 2
    assert moves.view(second)["readingNow"] == 1
    stays.wait_push("the mover left", lambda p: p["articleId"] == first and p["readingNow"] == 1)
    assert Reader(stack).view(second)["readingNow"] == 2
    stays.close()
    moves.close()


def test_live_push_to_a_gone_connection_removes_it(stack: LocalStack) -> None:
    """A $disconnect that never came: the Connections items of a connection that is gone."""
    article = new_article()
    ddb, table = stack.client("dynamodb"), stack.table("Connections")
    gone, expires = "R29uZUdvbmVHb25lR28=", {"N": str(int(time.time()) + 3600)}
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"conn#{gone}"},
            "sk": {"S": "conn"},
            "target": {"S": f"post:{article}"},
            "expiresAt": expires,
        },
    )
    ddb.put_item(TableName=table, Item={"pk": {"S": f"post:{article}"}, "sk": {"S": f"r#{gone}"}, "expiresAt": expires})
    reader = Reader(stack)
    assert reader.view(article)["readingNow"] == 2, "the gone connection still counts until a push finds it"
    reader.wait_push("the gone one forgotten", lambda p: p["totalViews"] == 1 and p["readingNow"] == 1)
    items = ddb.scan(TableName=table)["Items"]
    assert not [i for i in items if gone in i["pk"]["S"] + i["sk"]["S"]]
    assert Reader(stack).view(article)["readingNow"] == 2
    reader.close()


def test_live_reopened_socket_reads_again_with_watch_reading(stack: LocalStack) -> None:
    article = new_article()
    stays, leaves = Reader(stack), Reader(stack)
    stays.view(article)
    assert leaves.view(article)["readingNow"] == 2
    leaves.close()  # the page was hidden for minutes, or the gateway closed it idle
    stays.wait_push("the closed socket left", lambda p: p["readingNow"] == 1)

    reopened = Reader(stack)
    reply = reopened.ask({"message": "watch", "articleIds": [article], "reading": {"articleId": article}})

    assert reply["status"] == "ok", reply
    stays.wait_push("the reopened socket reads again", lambda p: p["totalViews"] == 2 and p["readingNow"] == 2)
    reopened.wait_push("its own push", lambda p: p["articleId"] == article and p["readingNow"] == 2)
    assert Reader(stack).view(article)["readingNow"] == 3
    stays.wait_push("the third view", lambda p: p["totalViews"] >= 3)
    assert reader_total(stack, article) == 3, "reading again counted no view"
