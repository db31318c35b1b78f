"""End to end on `python -m local`: what is filtered, and that a person's view still counts."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from local_support import LocalStack, wait_until
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from handlers.filtered import METRIC, REASON_DIMENSION, REASONS, metric_namespace
from handlers.signing import post_signature

pytestmark = pytest.mark.slow

SETTLE_SECONDS = 20.0
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SECRET = "local-test-secret-" + "x" * 25


def post_view(article_id: str, **extra: Any) -> dict[str, Any]:
    """A real post's view: signed by the blog, as the stack requires here."""
    title = f"Title of {article_id}"
    sig = post_signature(SECRET, article_id, title)
    return {"message": "views", "articleId": article_id, "articleTitle": title, "articleSig": sig, **extra}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    running = LocalStack.start("--referrer-spam", "semalt.com", "--post-secret", SECRET)
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
    if not item or "uniqueViews" not in item:  # none yet, or read while the emulator applies a transaction
        return None
    return int(item["totalViews"]["N"]), int(item["uniqueViews"]["N"])


def test_crawler_refused_at_the_door_while_a_browser_is_counted(stack: LocalStack) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_ws(stack, GOOGLEBOT)
    assert refused.value.response.status_code == 403
    article = new_article()
    with open_ws(stack) as ws:
        assert ask(ws, post_view(article, viewId=uuid.uuid4().hex))["status"] == "ok"
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
            assert ask(ws, post_view(article, referrer=referrer, viewId=uuid.uuid4().hex))["status"] == "ok"
    wait_until(lambda: writer_counts(stack, article) == (2, 2), SETTLE_SECONDS, "both views counted")
    wait_until(lambda: referrers(stack, article), SETTLE_SECONDS, "the real referrer counted")
    time.sleep(0.5)
    assert referrers(stack, article) == ["https://news.ycombinator.com"]


def test_invented_post_refused_while_the_signed_one_counts(stack: LocalStack) -> None:
    invented, real = new_article(), new_article()
    with open_ws(stack) as ws:
        reply = ask(ws, {"message": "views", "articleId": invented, "articleTitle": "Spam"})
        assert reply["error"] == "unsigned_post"
        assert ask(ws, post_view(real))["status"] == "ok", "the connection stays usable"
    wait_until(lambda: writer_counts(stack, real) == (1, 1), SETTLE_SECONDS, "the signed post counted")
    time.sleep(0.5)
    assert writer_counts(stack, invented) is None


def refused(stack: LocalStack) -> dict[str, int]:
    """Today's refusals by reason, read as the owner reads a deployed stack's (README)."""
    cloudwatch = stack.client("cloudwatch")
    now = datetime.now(UTC)
    sums: dict[str, int] = {}
    for reason in REASONS:
        points = cloudwatch.get_metric_statistics(
            Namespace=metric_namespace(stack.stack),
            MetricName=METRIC,
            Dimensions=[{"Name": REASON_DIMENSION, "Value": reason}],
            StartTime=now - timedelta(days=1),
            EndTime=now + timedelta(minutes=5),
            Period=86400,
            Statistics=["Sum"],
        )["Datapoints"]
        sums[reason] = int(sum(p["Sum"] for p in points))
    return sums


def test_refusals_counted_per_reason_in_the_emulators_cloudwatch(stack: LocalStack) -> None:
    before = refused(stack)
    with pytest.raises(InvalidStatus):
        open_ws(stack, GOOGLEBOT)
    with pytest.raises(InvalidStatus):
        connect(stack.ws_url, origin=Origin("https://evil.example"), user_agent_header=BROWSER, open_timeout=5)
    with open_ws(stack) as ws:
        assert ask(ws, {"message": "views", "articleId": new_article()})["error"] == "unsigned_post"
        view = post_view(new_article(), referrer="https://semalt.com/")
        assert ask(ws, view)["status"] == "ok"
        assert ask(ws, post_view(new_article()))["status"] == "ok"  # a person's view: nothing refused
    expected = {**before, "bot": before["bot"] + 1, "origin": before["origin"] + 1}
    expected |= {"unsigned": before["unsigned"] + 1, "referrer_spam": before["referrer_spam"] + 1}
    wait_until(lambda: refused(stack) == expected, SETTLE_SECONDS, f"refusals {expected}")
    log = stack.stderr()
    assert GOOGLEBOT not in log and "semalt" not in log and "evil.example" not in log
