"""End to end: `python -m local` as a developer runs it, driven by a real WebSocket client.

One stack serves the module (starting it takes a couple of seconds); every test
counts its own article ids, so the counts each test expects are exact. Only the
home-page test touches Home_Page.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_support import REPO, LocalStack, wait_until
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from handlers.wiring import SERIES_BATCHING_WINDOW_SECONDS
from local import emulator

pytestmark = pytest.mark.slow

EXTRA_ORIGIN = "https://blog.example.com"
SETTLE_SECONDS = 20.0
POISON_SECONDS = 45.0


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    running = LocalStack.start("--allowed-origin", EXTRA_ORIGIN)
    yield running
    code = running.terminate()
    assert code == 0, running.stderr()


def open_ws(stack: LocalStack, origin: str | None = None) -> ClientConnection:
    return connect(stack.ws_url, origin=Origin(origin or stack.origin), open_timeout=5)


def ask(ws: ClientConnection, message: dict[str, Any] | str) -> dict[str, Any]:
    """The message's reply; live pushes (`counts`) for the connection's target may come first."""
    ws.send(message if isinstance(message, str) else json.dumps(message))
    while True:
        reply = json.loads(ws.recv(10))
        assert isinstance(reply, dict)
        if reply.get("message") != "counts":
            return reply


def post_view(article_id: str, refreshed: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "message": "views",
        "articleId": article_id,
        "articleTitle": f"Title of {article_id}",
        "currentPage": f"/posts/{article_id}",
        "refreshed": refreshed,
        **extra,
    }


def new_article() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def reader_counts(stack: LocalStack, article_id: str) -> tuple[int, int] | None:
    item = (
        stack.client("dynamodb")
        .get_item(
            TableName=stack.table("PostCountReader"),
            Key={"articleId": {"S": article_id}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    if not item:
        return None
    return int(item["totalViews"]["N"]), int(item["uniqueViews"]["N"])


def settle(stack: LocalStack, article_id: str, expected: tuple[int, int]) -> None:
    """Wait until the reader holds exactly `expected`, then check it does not move past it."""
    wait_until(lambda: reader_counts(stack, article_id) == expected, SETTLE_SECONDS, f"{article_id} == {expected}")
    time.sleep(1.0)
    assert reader_counts(stack, article_id) == expected


def http_get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


# ---- start ------------------------------------------------------------------------------


def test_stack_prints_one_ready_line(stack: LocalStack) -> None:
    assert stack.line == f"ready ws=ws://127.0.0.1:{stack.port} aws={stack.aws_url} stack=local"
    assert stack.aws_url.startswith("http://127.0.0.1:") and stack.port > 0


def test_stack_created_the_wiring_tables_and_queues(stack: LocalStack) -> None:
    tables = set(stack.client("dynamodb").list_tables()["TableNames"])
    assert {
        "local-HomeAndProfile",
        "local-PostCountWriter",
        "local-PostCountReader",
        "local-Referrer",
        "local-TopPosts",
    } <= tables
    queues = {url.rsplit("/", 1)[1] for url in stack.client("sqs").list_queues()["QueueUrls"]}
    assert {"local-post_view", "local-post_view-dlq", "local-homepage_view", "local-referrer-dlq"} <= queues


# ---- views and stats -------------------------------------------------------------------------


def test_views_post_replies_ok_with_stored_counts(stack: LocalStack) -> None:
    article = new_article()
    with open_ws(stack) as ws:
        reply = ask(ws, post_view(article))
    assert reply == {
        "message": "views",
        "status": "ok",
        "articleId": article,
        "articleTitle": f"Title of {article}",
        "totalViews": 0,
        "uniqueViews": 0,
        "readingNow": 1,
    }


def test_views_count_exactly_and_refresh_counts_total_only(stack: LocalStack) -> None:
    article = new_article()
    with open_ws(stack) as ws:
        for refreshed in (False, True, False, True, True):
            assert ask(ws, post_view(article, refreshed))["status"] == "ok"
    settle(stack, article, (5, 2))
    with open_ws(stack) as ws:
        reply = ask(ws, post_view(article, refreshed=True))
    assert (reply["totalViews"], reply["uniqueViews"]) == (5, 2)
    settle(stack, article, (6, 2))


def test_views_from_many_connections_count_once_each(stack: LocalStack) -> None:
    article = new_article()
    with contextlib.ExitStack() as opened:
        sockets = [opened.enter_context(open_ws(stack)) for _ in range(8)]
        for ws in sockets:
            ws.send(json.dumps(post_view(article)))
        assert all(json.loads(ws.recv(10))["status"] == "ok" for ws in sockets)
    settle(stack, article, (8, 8))


def test_views_resent_with_the_same_view_id_count_once(stack: LocalStack) -> None:
    article, host = new_article(), f"https://{uuid.uuid4().hex[:8]}.example"
    resent = post_view(article, viewId=uuid.uuid4().hex, referrer=f"{host}/item")
    with open_ws(stack) as ws:
        assert ask(ws, resent)["status"] == "ok"
        assert ask(ws, resent)["status"] == "ok"  # as after `unavailable`: the same frame again
    with open_ws(stack) as ws:
        assert ask(ws, resent)["status"] == "ok"  # as after a lost reply: again, after reconnecting
        assert ask(ws, post_view(article, viewId=uuid.uuid4().hex))["status"] == "ok"  # another view
    settle(stack, article, (2, 2))
    key = {"referrer": {"S": host}, "target": {"S": f"post:{article}"}}  # stored as its origin
    wait_until(
        lambda: stack.client("dynamodb").get_item(TableName="local-Referrer", Key=key, ConsistentRead=True).get("Item"),
        SETTLE_SECONDS,
        "the referred view",
    )
    wait_until(lambda: stack.queue_depth("referrer") == 0, SETTLE_SECONDS, "the referrer queue to drain")
    item = stack.client("dynamodb").get_item(TableName="local-Referrer", Key=key, ConsistentRead=True)["Item"]
    assert item["views"]["N"] == "1"


def test_views_home_page_counts(stack: LocalStack) -> None:
    with open_ws(stack) as ws:
        first = ask(ws, {"message": "views", "currentPage": "/", "refreshed": False})
        ask(ws, {"message": "views", "currentPage": f"{stack.origin}/?ref=x", "refreshed": True})
    assert first["status"] == "ok" and first["page"] == "Home_Page"
    before = (first["totalViews"], first["uniqueViews"])
    expected = {"page": "Home_Page", "totalViews": before[0] + 2, "uniqueViews": before[1] + 1}

    def home() -> dict[str, Any] | None:
        with open_ws(stack) as ws:
            pages = ask(ws, {"message": "stats"})["pages"]
        return next((p for p in pages if p["page"] == "Home_Page"), None)

    wait_until(lambda: home() == expected, SETTLE_SECONDS, f"Home_Page == {expected}", interval=0.3)


def test_stats_answers_listed_articles_with_zeros_for_unknown(stack: LocalStack) -> None:
    article, unknown = new_article(), new_article()
    with open_ws(stack) as ws:
        ask(ws, post_view(article))
        ask(ws, post_view(article, refreshed=True))
    settle(stack, article, (2, 1))
    with open_ws(stack) as ws:
        reply = ask(ws, {"message": "stats", "articleIds": [article, unknown]})
    assert reply["message"] == "stats"
    by_id = {a["articleId"]: a for a in reply["articles"]}
    assert (by_id[article]["totalViews"], by_id[article]["uniqueViews"]) == (2, 1)
    assert (by_id[unknown]["totalViews"], by_id[unknown]["uniqueViews"]) == (0, 0)
    assert reader_counts(stack, article) == (2, 1)  # stats never counts


def test_stats_without_ids_lists_the_most_viewed_post_first(stack: LocalStack) -> None:
    article = new_article()  # more views than any other test's article: it tops the list
    with open_ws(stack) as ws:
        for refreshed in [False] * 3 + [True] * 9:
            assert ask(ws, post_view(article, refreshed))["status"] == "ok"
    settle(stack, article, (12, 3))
    expected = {"articleId": article, "articleTitle": f"Title of {article}", "totalViews": 12, "uniqueViews": 3}

    def first() -> dict[str, Any] | None:
        with open_ws(stack) as ws:
            return next(iter(ask(ws, {"message": "stats"})["articles"]), None)

    wait_until(lambda: first() == expected, SETTLE_SECONDS, f"{article} first in the top posts", interval=0.3)


def test_external_referrer_counted_per_target_by_origin(stack: LocalStack) -> None:
    article, host = new_article(), f"https://{uuid.uuid4().hex[:8]}.example"
    with open_ws(stack) as ws:
        for path in ("/item?id=1", "/other/page#c"):
            assert ask(ws, post_view(article, referrer=f"{host}{path}"))["status"] == "ok"
        # The blog's own origin is not an external referrer.
        assert ask(ws, post_view(article, referrer=f"{stack.origin}/"))["status"] == "ok"
    settle(stack, article, (3, 3))
    key = {"referrer": {"S": host}, "target": {"S": f"post:{article}"}}

    def views() -> int:
        item = stack.client("dynamodb").get_item(TableName="local-Referrer", Key=key, ConsistentRead=True)
        return int(item.get("Item", {}).get("views", {}).get("N", "0"))

    wait_until(lambda: views() == 2, SETTLE_SECONDS, "two referred views")
    items = stack.client("dynamodb").scan(TableName="local-Referrer")["Items"]
    assert not [i for i in items if stack.origin in i["referrer"]["S"]]


def test_series_holds_a_posts_views_and_its_referrer_after_the_batching_window(stack: LocalStack) -> None:
    """The local pollers run the series consumers from the wiring table, window included."""
    article, host = new_article(), f"https://{uuid.uuid4().hex[:8]}.example"
    with open_ws(stack) as ws:
        for refreshed in (False, True, False):
            assert ask(ws, post_view(article, refreshed=refreshed, referrer=f"{host}/x"))["status"] == "ok"
    ddb = stack.client("dynamodb")

    def snapshots(series_key: str) -> list[dict[str, Any]]:
        return list(
            ddb.query(
                TableName=stack.table("Series"),
                KeyConditionExpression="seriesKey = :k",
                ExpressionAttributeValues={":k": {"S": series_key}},
                ConsistentRead=True,
            )["Items"]
        )

    def post_total() -> tuple[int, int]:
        found = snapshots(f"post#{article}")
        return (int(found[-1]["totalViews"]["N"]), int(found[-1]["uniqueViews"]["N"])) if found else (0, 0)

    wait = SETTLE_SECONDS + 2 * SERIES_BATCHING_WINDOW_SECONDS
    wait_until(lambda: post_total() == (3, 2), wait, "the post's snapshot")
    wait_until(lambda: snapshots(f"ref#{host}"), wait, "the referrer's snapshot")
    (referred,) = snapshots(f"ref#{host}")
    assert referred["bucket"]["S"].endswith(f"#post#{article}") and referred["views"] == {"N": "3"}


# ---- origins -------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1"])
def test_connect_foreign_origin_refused_403(stack: LocalStack, origin: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_ws(stack, origin)
    assert refused.value.response.status_code == 403


def test_connect_without_origin_refused_403(stack: LocalStack) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(stack.ws_url, open_timeout=5)
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("origin", [EXTRA_ORIGIN, "http://localhost:{port}"])
def test_connect_allowed_origins(stack: LocalStack, origin: str) -> None:
    with open_ws(stack, origin.format(port=stack.port)) as ws:
        assert ask(ws, {"message": "stats", "articleIds": []})["message"] == "stats"


# ---- bad input -------------------------------------------------------------------------------


def test_bad_input_answered_and_connection_stays_usable(stack: LocalStack) -> None:
    article = new_article()
    with open_ws(stack) as ws:
        assert ask(ws, "this is not json")["error"] == "invalid_json"
        assert ask(ws, {"message": "subscribe"})["error"] == "unknown_route"
        invalid = ask(ws, post_view("x" * 200))
        assert (invalid["message"], invalid["error"]) == ("error", "invalid_event")
        assert ask(ws, {"message": "views", "articleID": article})["error"] == "invalid_event"
        assert ask(ws, {"message": "views", "currentPage": "/nowhere"})["error"] == "unknown_page"
        assert ask(ws, "x" * 40_000)["error"] == "too_large"
        assert ask(ws, post_view(article))["status"] == "ok"
    settle(stack, article, (1, 1))


def test_too_large_message_closes_with_1009(stack: LocalStack) -> None:
    with open_ws(stack) as ws:
        ws.send(json.dumps(post_view(new_article(), articleTitle="x" * 140_000)))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    with open_ws(stack) as ws:  # the gateway itself is fine
        assert ask(ws, {"message": "stats", "articleIds": []})["message"] == "stats"


# ---- @connections and the demo blog -------------------------------------------------------


def test_connections_endpoint_unknown_connection_is_gone(stack: LocalStack) -> None:
    api = emulator.client("apigatewaymanagementapi", stack.origin)
    with pytest.raises(ClientError) as gone:
        api.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"{}")
    assert gone.value.response["Error"]["Code"] == "GoneException"


def test_http_serves_the_client_and_refuses_other_files(stack: LocalStack) -> None:
    status, content_type, body = http_get(f"{stack.origin}/analytics.js")
    assert status == 200 and content_type.startswith("text/javascript")
    assert body == (REPO / "client" / "analytics.js").read_bytes()
    for path in ("/README.md", "/../Makefile", "/posts/..%2F..%2FMakefile", "/handlers/views.py"):
        assert http_get(f"{stack.origin}{path}")[0] == 404, path


def test_http_home_page_learns_the_ws_url(stack: LocalStack) -> None:
    if not (REPO / "client" / "demo" / "index.html").exists():
        pytest.skip("client/demo/index.html is not written yet")
    status, content_type, body = http_get(f"{stack.origin}/")
    assert status == 200 and content_type.startswith("text/html")
    assert b"__WS_URL__" not in body and f"ws://127.0.0.1:{stack.port}".encode() in body


# ---- a poison message ----------------------------------------------------------------------


def test_poison_message_reaches_dlq_while_views_count(stack: LocalStack) -> None:
    sns, sqs = stack.client("sns"), stack.client("sqs")
    topic_arn = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":local-view-events"))
    poison = json.dumps({"eventId": uuid.uuid4().hex, "eventType": "post_view", "unique": "yes"})
    sns.publish(
        TopicArn=topic_arn,
        Message=poison,
        MessageAttributes={"event_type": {"DataType": "String", "StringValue": "post_view"}},
    )
    article = new_article()
    with open_ws(stack) as ws:
        for refreshed in (False, True, False):
            assert ask(ws, post_view(article, refreshed))["status"] == "ok"
    settle(stack, article, (3, 2))

    dlq_url = sqs.get_queue_url(QueueName="local-post_view-dlq")["QueueUrl"]

    def dead() -> list[str]:
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [m["Body"] for m in messages.get("Messages", [])]

    assert wait_until(dead, POISON_SECONDS, "the poison message in the DLQ", interval=0.5) == [poison]
    assert reader_counts(stack, article) == (3, 2)


# ---- stopping ----------------------------------------------------------------------------------


def test_idle_timeout_option_closes_a_quiet_connection_as_api_gateway_does() -> None:
    running = LocalStack.start("--idle-timeout", "0.5")
    try:
        with open_ws(running) as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    finally:
        assert running.terminate() == 0, running.stderr()


def test_sigterm_stops_within_seconds_with_exit_code_0() -> None:
    running = LocalStack.start()
    try:
        with open_ws(running) as ws:
            assert ask(ws, {"message": "stats", "articleIds": []})["message"] == "stats"
            started = time.monotonic()
            running.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(5)
            code = running.process.wait(5)
            elapsed = time.monotonic() - started
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001  # going away
    assert code == 0, running.stderr()
    assert elapsed < 5, elapsed
    assert '"event":"stopped"' in running.stderr()


def test_sigint_stops_like_ctrl_c_and_stdout_held_only_the_ready_line() -> None:
    running = LocalStack.start()
    try:
        with pytest.raises(InvalidStatus):
            open_ws(running, "https://evil.example")  # the connect handler logs its refusal
        wait_until(lambda: "connect_refused" in running.stderr(), 5, "the refusal logged on stderr")
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(5) == 0, running.stderr()
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()
    assert running.process.stdout is not None and running.process.stdout.read() == ""
    lines = [line for line in running.stderr().splitlines() if line.startswith("{")]
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)
