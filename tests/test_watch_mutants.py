"""The watch route (handlers/watch.py) on a scripted DynamoDB client: written for mutation
testing (tests/MUTATION.md). tests/test_live.py checks the behaviour on moto; these pin
the requests sent (the one BatchGetItem by key, the watch list's UpdateItem, the reader's
PutItem), the reply built from the answers, and every refusal."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from support.events import ws_message

from handlers import aws, connections, watch
from handlers.attributes import Item
from handlers.connections import connection_key, expires_at, follower_key, reading_now_key
from handlers.schema import WatchMessage
from handlers.settings import load_settings
from handlers.store import page_key, post_key
from handlers.wiring import CONNECTIONS, HOME_AND_PROFILE, POST_COUNT_READER

NOW = 1_800_000_000.25
CONNECTED_AT_MS = 1_799_996_400_000  # an hour before NOW: the expiry counts from here


@pytest.fixture(autouse=True)
def fresh_pool() -> None:
    """A thread pool made in this process: mutmut forks each mutant's run from a process
    whose cached pool has threads the fork does not copy, and a call submitted to it would
    wait until mutmut's timeout, counted as a kill."""
    aws._pool.cache_clear()


class ScriptedDynamoDB:
    """Records each call; batch_get_item answers from `items` (table -> items), leaving
    every key unprocessed when `throttled`; `error` is raised by batch_get_item."""

    def __init__(
        self,
        items: dict[str, list[dict[str, Any]]] | None = None,
        throttled: bool = False,
        error: Exception | None = None,
    ) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.items = items or {}
        self.throttled = throttled
        self.error = error
        self.readers = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("batch_get_item", json.loads(json.dumps(RequestItems))))
        assert len(self.named("batch_get_item")) <= 10, "unbounded retries"
        if self.error is not None:
            raise self.error
        if self.throttled:
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        return {"Responses": {t: self.items.get(t, []) for t in RequestItems}, "UnprocessedKeys": {}}

    def update_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("update_item", request))
        return {}

    def put_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("put_item", request))
        return {}

    def query(self, **request: Any) -> dict[str, Any]:
        """readingNow of a `reading` target: `readers` other readers."""
        self.calls.append(("query", request))
        return {"Count": self.readers}

    def named(self, name: str) -> list[dict[str, Any]]:
        return [request for n, request in self.calls if n == name]


@pytest.fixture
def tables(handler_env: None) -> tuple[str, str, str]:
    settings = load_settings()
    return settings.table(POST_COUNT_READER), settings.table(HOME_AND_PROFILE), settings.table(CONNECTIONS)


def send(monkeypatch: pytest.MonkeyPatch, ddb: ScriptedDynamoDB, body: dict[str, Any] | str) -> dict[str, Any]:
    # Not aws.client itself: handler_env's teardown clears that function's cache.
    monkeypatch.setattr(
        watch, "aws", SimpleNamespace(client={"dynamodb": ddb}.__getitem__, concurrently=aws.concurrently)
    )
    monkeypatch.setattr(connections, "now", lambda: NOW)
    event = ws_message(body, route="watch")
    event["requestContext"]["connectionId"] = "conn-1"
    event["requestContext"]["connectedAt"] = CONNECTED_AT_MS
    response = watch.handler(event, None)
    assert response["statusCode"] == 200
    reply: dict[str, Any] = json.loads(response["body"])
    return reply


def post(article_id: str, title: str, total: int, unique: int) -> dict[str, Any]:
    return {
        "articleId": {"S": article_id},
        "articleTitle": {"S": title},
        "totalViews": {"N": str(total)},
        "uniqueViews": {"N": str(unique)},
    }


def page(name: str, total: int, unique: int) -> dict[str, Any]:
    return {"pageName": {"S": name}, "totalViews": {"N": str(total)}, "uniqueViews": {"N": str(unique)}}


def reading(target: str, n: int) -> dict[str, Any]:
    return {**reading_now_key(target), "readingNow": {"N": str(n)}}


def test_watch_reads_every_target_by_key_in_one_request_and_replies_in_order(
    tables: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, pages_table, live = tables
    ddb = ScriptedDynamoDB(
        {
            reader: [post("a", "A", 5, 3), post("b", "B", 9, 4)],
            pages_table: [page("About_Page", 7, 2)],
            live: [reading("post:b", 2), reading("page:Home_Page", 6)],
        }
    )
    reply = send(
        monkeypatch,
        ddb,
        {"message": "watch", "articleIds": ["b", "a", "b", "c"], "pages": ["Home_Page", "About_Page", "Home_Page"]},
    )
    assert ddb.named("batch_get_item") == [
        {
            reader: {"Keys": [post_key("b"), post_key("a"), post_key("c")]},
            pages_table: {"Keys": [page_key("Home_Page"), page_key("About_Page")]},
            live: {
                "Keys": [
                    reading_now_key(t) for t in ("post:b", "post:a", "post:c", "page:Home_Page", "page:About_Page")
                ]
            },
        }
    ]
    assert reply == {
        "message": "watch",
        "status": "ok",
        "articles": [
            {"articleId": "b", "articleTitle": "B", "totalViews": 9, "uniqueViews": 4, "readingNow": 2},
            {"articleId": "a", "articleTitle": "A", "totalViews": 5, "uniqueViews": 3, "readingNow": 0},
            {"articleId": "c", "articleTitle": "", "totalViews": 0, "uniqueViews": 0, "readingNow": 0},
        ],
        "pages": [
            {"page": "Home_Page", "totalViews": 0, "uniqueViews": 0, "readingNow": 6},
            {"page": "About_Page", "totalViews": 7, "uniqueViews": 2, "readingNow": 0},
        ],
    }


def test_watch_stores_the_list_with_the_connections_expiry_and_adds_no_reader(
    tables: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, live = tables
    ddb = ScriptedDynamoDB()
    send(monkeypatch, ddb, {"message": "watch", "articleIds": ["b", "a"], "pages": ["Home_Page"]})
    expiry = expires_at(CONNECTED_AT_MS, NOW)
    assert expiry < int(NOW) + connections.CONNECTION_LIMIT_SECONDS, "counted from the connection's start"
    assert ddb.named("update_item") == [
        {
            "TableName": live,
            "Key": connection_key("conn-1"),
            "UpdateExpression": "SET #watching = :watching, #expires = :expires",
            "ExpressionAttributeNames": {"#watching": "watching", "#expires": connections.TTL_ATTRIBUTE},
            "ExpressionAttributeValues": {
                ":expires": {"N": str(expiry)},
                ":watching": {"SS": ["page:Home_Page", "post:a", "post:b"]},
            },
        }
    ]
    assert ddb.named("put_item") == []


@pytest.mark.parametrize(
    ("target", "reading_field"),
    [("post:a", {"articleId": "a"}), ("page:About_Page", {"page": "About_Page"})],
)
def test_watch_with_reading_makes_it_the_target_and_records_the_reader(
    tables: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch, target: str, reading_field: dict[str, str]
) -> None:
    _, _, live = tables
    ddb = ScriptedDynamoDB()
    send(monkeypatch, ddb, {"message": "watch", "articleIds": ["b"], "reading": reading_field})
    expiry = expires_at(CONNECTED_AT_MS, NOW)
    [query] = ddb.named("query")
    assert query["ExpressionAttributeValues"][":target"] == {"S": target}
    assert query["ExpressionAttributeValues"][":me"] == {"S": "r#conn-1"}
    [update] = ddb.named("update_item")
    assert update["ExpressionAttributeValues"][":target"] == {"S": target}
    assert update["UpdateExpression"] == "SET #watching = :watching, #expires = :expires, #target = :target"
    assert ddb.named("put_item") == [
        {
            "TableName": live,
            "Item": {
                **follower_key(target, "conn-1", reading=True),
                connections.TTL_ATTRIBUTE: {"N": str(expiry)},
            },
        }
    ]


def test_watch_of_nothing_reads_nothing_and_stops_watching(
    tables: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ddb = ScriptedDynamoDB()
    reply = send(monkeypatch, ddb, {"message": "watch"})
    assert reply == {"message": "watch", "status": "ok", "articles": [], "pages": []}
    assert ddb.named("batch_get_item") == []
    [update] = ddb.named("update_item")
    assert update["UpdateExpression"] == "SET #expires = :expires REMOVE #watching"


def test_watch_of_pages_only_asks_no_post_table(tables: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _, pages_table, live = tables
    ddb = ScriptedDynamoDB()
    send(monkeypatch, ddb, {"message": "watch", "pages": ["Contact_Page"]})
    [request] = ddb.named("batch_get_item")
    assert sorted(request) == sorted([pages_table, live])


def test_watch_reading_now_reads_each_items_target() -> None:
    assert watch.reading_now([reading("post:a", 3), reading("page:Home_Page", 0)], 1000.0) == {
        "post:a": 3,
        "page:Home_Page": 0,
    }


def test_watch_reading_now_ignores_an_expired_item_and_keeps_one_from_before_expiry() -> None:
    def expiring(target: str, count: int, expires: int) -> Item:
        return {**reading(target, count), "expiresAt": {"N": str(expires)}}

    items = [expiring("post:live", 2, 1001), expiring("post:stale", 5, 1000), reading("post:old", 4)]
    assert watch.reading_now(items, 1000.0) == {"post:live": 2, "post:old": 4}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"message": "watch", "pages": ["Home_Page", "Nope_Page"]}, "pages.1: not a page of this blog"),
        ({"message": "watch", "reading": {"page": "Nope_Page"}}, "reading.page: not a page of this blog"),
    ],
)
def test_watch_refuses_a_page_the_blog_has_not_and_sends_nothing(
    tables: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch, body: dict[str, Any], detail: str
) -> None:
    ddb = ScriptedDynamoDB()
    reply = send(monkeypatch, ddb, body)
    assert reply == {"message": "error", "error": "invalid_event", "detail": detail}
    assert ddb.calls == []


def test_watch_accepts_known_pages_and_a_read_post(handler_env: None) -> None:
    message = watch.accept_watch(
        json.dumps({"message": "watch", "pages": ["Home_Page", "Contact_Page"], "reading": {"articleId": "a"}}),
        load_settings(),
    )
    assert message == WatchMessage.model_validate(
        {"message": "watch", "pages": ["Home_Page", "Contact_Page"], "reading": {"articleId": "a"}}
    )


def test_watch_refuses_a_frame_that_is_not_json(tables: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    ddb = ScriptedDynamoDB()
    reply = send(monkeypatch, ddb, "{")
    assert reply["error"] == "invalid_json"
    assert ddb.calls == []


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: ScriptedDynamoDB(throttled=True), "Unprocessed"),
        (
            lambda: ScriptedDynamoDB(error=ClientError({"Error": {"Code": "InternalServerError"}}, "BatchGetItem")),
            "ClientError",
        ),
        (lambda: ScriptedDynamoDB(error=EndpointConnectionError(endpoint_url="http://x")), "EndpointConnectionError"),
    ],
)
def test_watch_answers_unavailable_and_logs_when_the_read_fails(
    tables: tuple[str, str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[], ScriptedDynamoDB],
    error: str,
) -> None:
    reply = send(monkeypatch, make(), {"message": "watch", "articleIds": ["a"]})
    assert reply == {"message": "error", "error": "unavailable", "detail": "try again shortly"}
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(e["level"], e["event"], e["error"]) for e in logged if e["event"] == "watch_unavailable"] == [
        ("error", "watch_unavailable", error)
    ]


def test_watch_asks_unprocessed_keys_again_at_most_once(
    tables: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MAX_CALLS = 2: one request and one retry of what was left, then unavailable."""
    ddb = ScriptedDynamoDB(throttled=True)
    send(monkeypatch, ddb, {"message": "watch", "articleIds": ["a"]})
    assert len(ddb.named("batch_get_item")) == 2


@pytest.mark.parametrize(
    ("reading_field", "post_now", "page_now"), [({"articleId": "b"}, 5, 6), ({"page": "Home_Page"}, 2, 5)]
)
def test_watch_reply_counts_this_reader_exactly_in_its_reading_target_only(
    tables: tuple[str, str, str],
    monkeypatch: pytest.MonkeyPatch,
    reading_field: dict[str, str],
    post_now: int,
    page_now: int,
) -> None:
    reader, _, live = tables
    ddb = ScriptedDynamoDB({reader: [post("b", "B", 9, 4)], live: [reading("post:b", 2), reading("page:Home_Page", 6)]})
    ddb.readers = 4
    body = {"message": "watch", "articleIds": ["b"], "pages": ["Home_Page"], "reading": reading_field}
    reply = send(monkeypatch, ddb, body)
    assert [a["readingNow"] for a in reply["articles"]] == [post_now]
    assert [p["readingNow"] for p in reply["pages"]] == [page_now]
