"""The Connections table's requests (handlers/connections.py) on a recording client:
written to kill the mutants of handlers/connections.py that the handler tests let
survive (tests/MUTATION.md). The moto tests (tests/test_live.py,
tests/test_views_budget.py) check the behaviour; these pin what DynamoDB is sent."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from handlers import connections
from handlers.connections import (
    CONNECTION_LIMIT_SECONDS,
    EXPIRY_MARGIN_SECONDS,
    add_reader,
    expires_at,
    follow_target,
    follower_key,
    forget,
    is_live,
    readers_besides,
    reading_now_key,
    set_watching,
)

LIFETIME = CONNECTION_LIMIT_SECONDS + EXPIRY_MARGIN_SECONDS
NOW = 1_800_000_000.75


class RecordingDynamoDB:
    """Records each call; `query` answers the scripted pages in turn, `update_item` raises
    the scripted error if any."""

    def __init__(self, pages: list[dict[str, Any]] | None = None, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.pages = list(pages or [])
        self.error = error

    def _record(self, name: str, request: dict[str, Any]) -> None:
        self.calls.append((name, {k: (dict(v) if isinstance(v, dict) else v) for k, v in request.items()}))

    def update_item(self, **request: Any) -> dict[str, Any]:
        self._record("update_item", request)
        if self.error is not None:
            raise self.error
        return {}

    def put_item(self, **request: Any) -> dict[str, Any]:
        self._record("put_item", request)
        return {}

    def delete_item(self, **request: Any) -> dict[str, Any]:
        self._record("delete_item", request)
        return {}

    def query(self, **request: Any) -> dict[str, Any]:
        self._record("query", request)
        return self.pages.pop(0)


def test_connections_expiry_counts_from_the_connections_start() -> None:
    """An hour-old connection's items go an hour earlier than a new one's."""
    assert expires_at(1_799_996_400_999, NOW) == 1_799_996_400 + LIFETIME


def test_connections_expiry_of_an_unknown_start_counts_from_now() -> None:
    assert expires_at(0, NOW) == int(NOW) + LIFETIME


@pytest.mark.parametrize("started_seconds_ago", [LIFETIME + 1, LIFETIME + 3600, 10**9])
def test_connections_expiry_of_an_implausible_start_counts_from_now(started_seconds_ago: int) -> None:
    """A message proves the connection open now: its items must outlive now."""
    connected_at_ms = int((NOW - started_seconds_ago) * 1000)
    assert expires_at(connected_at_ms, NOW) == int(NOW) + LIFETIME


def test_connections_expiry_exactly_now_counts_from_now() -> None:
    connected_at_ms = (int(NOW) - LIFETIME) * 1000
    assert expires_at(connected_at_ms, float(int(NOW))) == int(NOW) + LIFETIME


def test_connections_item_live_until_its_expiry_passes() -> None:
    item = {"expiresAt": {"N": "100"}}
    assert is_live(item, 99.9) and not is_live(item, 100) and not is_live({}, 0.5)


def test_connections_view_moves_the_target_and_counts_against_no_budget() -> None:
    ddb = RecordingDynamoDB()
    assert follow_target(ddb, "t-Connections", "c1", "post:a", 123) == (True, None)
    [(name, request)] = ddb.calls
    assert name == "update_item"
    assert request == {
        "TableName": "t-Connections",
        "Key": {"pk": {"S": "conn#c1"}, "sk": {"S": "conn"}},
        "UpdateExpression": "SET #target = :target, #expires = :expires ADD #views :one",
        "ExpressionAttributeNames": {"#target": "target", "#expires": "expiresAt", "#views": "views"},
        "ExpressionAttributeValues": {":target": {"S": "post:a"}, ":expires": {"N": "123"}, ":one": {"N": "1"}},
    }


def test_connections_view_under_a_budget_is_conditional() -> None:
    ddb = RecordingDynamoDB()
    assert follow_target(ddb, "t-Connections", "c1", "page:home", 123, budget=5) == (True, None)
    [(_, request)] = ddb.calls
    assert request["ConditionExpression"] == "attribute_not_exists(#views) OR #views < :budget"
    assert request["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert request["ExpressionAttributeValues"][":budget"] == {"N": "5"}


def test_connections_spent_budget_answers_false() -> None:
    failed = ClientError(
        {"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}, "Item": {"target": {"S": "post:a"}}},
        "UpdateItem",
    )
    assert follow_target(RecordingDynamoDB(error=failed), "t", "c1", "page:home", 123, budget=1) == (False, "post:a")


def test_connections_reader_recorded_with_its_expiry() -> None:
    ddb = RecordingDynamoDB()
    add_reader(ddb, "t-Connections", "post:a", "c1", 456)
    assert ddb.calls == [
        (
            "put_item",
            {
                "TableName": "t-Connections",
                "Item": {"pk": {"S": "post:a"}, "sk": {"S": "r#c1"}, "expiresAt": {"N": "456"}},
            },
        )
    ]


def test_connections_watch_list_stored_once_each_in_order() -> None:
    ddb = RecordingDynamoDB()
    set_watching(ddb, "t-Connections", "c1", ["post:b", "page:home", "post:b"], 789)
    assert ddb.calls == [
        (
            "update_item",
            {
                "TableName": "t-Connections",
                "Key": {"pk": {"S": "conn#c1"}, "sk": {"S": "conn"}},
                "UpdateExpression": "SET #watching = :watching, #expires = :expires",
                "ExpressionAttributeNames": {"#watching": "watching", "#expires": "expiresAt"},
                "ExpressionAttributeValues": {":expires": {"N": "789"}, ":watching": {"SS": ["page:home", "post:b"]}},
            },
        )
    ]


def test_connections_empty_watch_list_removes_it() -> None:
    """DynamoDB refuses an empty string set: an empty list removes the attribute."""
    ddb = RecordingDynamoDB()
    set_watching(ddb, "t-Connections", "c1", [], 789)
    [(_, request)] = ddb.calls
    assert request["UpdateExpression"] == "SET #expires = :expires REMOVE #watching"
    assert request["ExpressionAttributeValues"] == {":expires": {"N": "789"}}
    assert request["ExpressionAttributeNames"] == {"#watching": "watching", "#expires": "expiresAt"}


def test_connections_forget_deletes_the_connections_item() -> None:
    ddb = RecordingDynamoDB()
    forget(ddb, "t-Connections", "c1")
    assert ddb.calls == [
        ("delete_item", {"TableName": "t-Connections", "Key": {"pk": {"S": "conn#c1"}, "sk": {"S": "conn"}}})
    ]


def test_connections_readers_counted_over_every_page_consistently() -> None:
    ddb = RecordingDynamoDB(
        pages=[{"Count": 2, "LastEvaluatedKey": {"k": 1}}, {"Count": 0, "LastEvaluatedKey": {"k": 2}}, {"Count": 3}]
    )
    assert readers_besides(ddb, "t-Connections", "post:a", "c1", NOW) == 5
    first = ddb.calls[0][1]
    assert first == {
        "TableName": "t-Connections",
        "KeyConditionExpression": "pk = :target AND begins_with(sk, :reading)",
        "FilterExpression": "sk <> :me AND #expires > :now",
        "ExpressionAttributeNames": {"#expires": "expiresAt"},
        "ExpressionAttributeValues": {
            ":target": {"S": "post:a"},
            ":reading": {"S": "r#"},
            ":me": {"S": "r#c1"},
            ":now": {"N": str(int(NOW))},
        },
        "Select": "COUNT",
        "ConsistentRead": True,
    }
    assert [call[1].get("ExclusiveStartKey") for call in ddb.calls] == [None, {"k": 1}, {"k": 2}]


def test_connections_page_without_a_count_counts_none() -> None:
    assert readers_besides(RecordingDynamoDB(pages=[{}]), "t", "post:a", "c1", NOW) == 0


def test_connections_clock_is_epoch_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.5)
    assert connections.now() == 1_800_000_000.5


def test_connections_keys_of_a_targets_partition() -> None:
    """Readers (`r#`) make readingNow; watchers (`w#`) only receive pushes; `n` holds the
    readingNow last pushed."""
    assert follower_key("post:a", "c1", reading=True) == {"pk": {"S": "post:a"}, "sk": {"S": "r#c1"}}
    assert follower_key("post:a", "c1", reading=False) == {"pk": {"S": "post:a"}, "sk": {"S": "w#c1"}}
    assert reading_now_key("page:home") == {"pk": {"S": "page:home"}, "sk": {"S": "n"}}
