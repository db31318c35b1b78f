"""End to end on `python -m local`: what is filtered, and that a person's view still counts."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from local_support import LocalStack, wait_until
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

pytestmark = pytest.mark.slow

SETTLE_SECONDS = 20.0
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    running = LocalStack.start("--referrer-spam", "semalt.com")
    yield running
    code = running.terminate()
    assert code == 0, running.stderr()


def open_ws(stack: LocalStack, user_agent: str = BROWSER) -> ClientConnection:
    return connect(stack.ws_url, origin=Origin(stack.origin), user_agent_header=user_agent, open_timeout=5)


def ask(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps(message))
    reply = json.loads(ws.recv(10))
    assert isinstance(reply, dict)
    return reply


def new_article() -> str:
    return f"f-{uuid.uuid4().hex[:12]}"


def writer_counts(stack: LocalStack, article_id: str) -> tuple[int, int] | None:
    item = (
        stack.client("dynamodb")
        .get_item(TableName=stack.table("PostCountWriter"), Key={"articleId": {"S": article_id}}, ConsistentRead=True)
        .get("Item")
    )
    return (int(item["totalViews"]["N"]), int(item["uniqueViews"]["N"])) if item else None


def test_crawler_refused_at_the_door_while_a_browser_is_counted(stack: LocalStack) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_ws(stack, GOOGLEBOT)
    assert refused.value.response.status_code == 403
    article = new_article()
    with open_ws(stack) as ws:
        assert ask(ws, {"message": "views", "articleId": article, "viewId": uuid.uuid4().hex})["status"] == "ok"
    wait_until(lambda: writer_counts(stack, article) == (1, 1), SETTLE_SECONDS, "the person's view counted")
    time.sleep(0.5)
    assert writer_counts(stack, article) == (1, 1)
    assert GOOGLEBOT not in stack.stderr() and "Googlebot" not in stack.stderr()


def referrers(stack: LocalStack, article_id: str) -> list[str]:
    items = stack.client("dynamodb").scan(TableName=stack.table("Referrer"), ConsistentRead=True)["Items"]
    return sorted(i["referrer"]["S"] for i in items if i["target"]["S"] == f"post:{article_id}")


def test_spam_referrer_not_counted_while_its_view_and_other_referrers_are(stack: LocalStack) -> None:
    article = new_article()
    with open_ws(stack) as ws:
        for referrer in ("https://www.semalt.com/seo", "https://news.ycombinator.com/item?id=1"):
            view = {"message": "views", "articleId": article, "referrer": referrer, "viewId": uuid.uuid4().hex}
            assert ask(ws, view)["status"] == "ok"
    wait_until(lambda: writer_counts(stack, article) == (2, 2), SETTLE_SECONDS, "both views counted")
    wait_until(lambda: referrers(stack, article), SETTLE_SECONDS, "the real referrer counted")
    time.sleep(0.5)
    assert referrers(stack, article) == ["https://news.ycombinator.com"]
