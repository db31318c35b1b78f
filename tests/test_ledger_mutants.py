"""The ledger's commit loop on a scripted DynamoDB client: the retry budget, which errors
are retried, and which messages a failure reports. Written to kill the mutants of
handlers/ledger.py that the moto tests let survive (tests/MUTATION.md)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from support.events import view_event

from handlers.counter import view_increment
from handlers.ledger import (
    CONFLICT_BACKOFF_SECONDS,
    CONFLICT_RETRIES,
    DAY_SECONDS,
    MARKER_TTL_SECONDS,
    MAX_EVENT_AGE_SECONDS,
    KeyWrite,
    Tables,
    count_exactly_once,
    now_ms,
    request_token,
    update_item,
)
from handlers.referrers import referrer_increment
from handlers.schema import ViewEvent
from handlers.sqs import Delivered

TABLES = Tables(counts="t-PostCountWriter", markers="t-CountedEvents")
NOW = 1_800_000_000_000


def delivered(message_id: str, **fields: Any) -> Delivered:
    fields.setdefault("receivedAt", NOW - 1_000)
    return Delivered(message_id, ViewEvent.model_validate(view_event(event_id=f"e-{message_id}", **fields)))


def canceled(*reasons: str) -> ClientError:
    """TransactionCanceledException with one reason per item (item 0 is the update)."""
    response: dict[str, Any] = {
        "Error": {"Code": "TransactionCanceledException", "Message": "canceled"},
        "CancellationReasons": [{"Code": r} for r in reasons],
    }
    return ClientError(response, "TransactWriteItems")


class ScriptedDynamoDB:
    """Answers each TransactWriteItems with the next scripted outcome (an exception to
    raise, or None for success) and records every request."""

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[dict[str, Any]] = []

    def transact_write_items(self, **request: Any) -> dict[str, Any]:
        self.requests.append(json.loads(json.dumps(request)))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        return {}

    def markers(self, index: int) -> list[str]:
        items = self.requests[index]["TransactItems"][1:]
        return [i["Put"]["Item"]["markerId"]["S"] for i in items]

    def total_views(self, index: int) -> str:
        return str(self.requests[index]["TransactItems"][0]["Update"]["ExpressionAttributeValues"][":a0"]["N"])


def count(ddb: ScriptedDynamoDB, deliveries: list[Delivered]) -> list[str]:
    return count_exactly_once(ddb, TABLES, "views", deliveries, view_increment, now=NOW)


def test_ledger_conflict_retried_up_to_the_budget_then_committed() -> None:
    ddb = ScriptedDynamoDB(*[canceled("TransactionConflict", "None")] * CONFLICT_RETRIES)
    assert count(ddb, [delivered("m1")]) == []
    assert len(ddb.requests) == CONFLICT_RETRIES + 1


def test_ledger_conflict_beyond_the_budget_reports_the_messages() -> None:
    ddb = ScriptedDynamoDB(*[canceled("TransactionConflict", "None")] * (CONFLICT_RETRIES + 1))
    assert count(ddb, [delivered("m1"), delivered("m2")]) == ["m1", "m2"]
    assert len(ddb.requests) == CONFLICT_RETRIES + 1


def test_ledger_other_client_error_reported_without_retry() -> None:
    error = ClientError({"Error": {"Code": "ValidationException", "Message": "no"}}, "TransactWriteItems")
    ddb = ScriptedDynamoDB(error)
    assert count(ddb, [delivered("m1")]) == ["m1"]
    assert len(ddb.requests) == 1


def test_ledger_connection_error_reported() -> None:
    ddb = ScriptedDynamoDB(EndpointConnectionError(endpoint_url="https://dynamodb.invalid"))
    assert count(ddb, [delivered("m1"), delivered("m2")]) == ["m1", "m2"]


def test_ledger_already_counted_events_dropped_and_the_rest_committed_once() -> None:
    """The second marker's condition failed: that event was counted before; the retry
    holds the other two only, and adds two views."""
    deliveries = [delivered(f"m{i}", receivedAt=NOW - 1_000 + i) for i in range(3)]
    ddb = ScriptedDynamoDB(canceled("None", "None", "ConditionalCheckFailed", "None"))
    assert count(ddb, deliveries) == []
    assert ddb.markers(1) == ["views#e-m0", "views#e-m2"]
    assert ddb.total_views(1) == "2"


def test_ledger_every_event_already_counted_ends_without_another_write() -> None:
    ddb = ScriptedDynamoDB(canceled("None", "ConditionalCheckFailed", "ConditionalCheckFailed"))
    assert count(ddb, [delivered("m1"), delivered("m2")]) == []
    assert len(ddb.requests) == 1


def logged(out: str, event: str) -> dict[str, Any]:
    """The one log line of `event`, without its timestamp."""
    [line] = [line for line in map(json.loads, out.splitlines()) if line["event"] == event]
    return {k: v for k, v in line.items() if k != "timestamp"}


def test_ledger_referred_view_after_one_without_a_countable_referrer_is_still_counted() -> None:
    """A delivery key_of has nothing for (a referrer that is no origin, received first)
    must not end the batch: the referred views after it are counted, not dropped as done."""
    deliveries = [
        delivered("m1", receivedAt=NOW - 3_000, referrer="not a url"),
        delivered("m2", receivedAt=NOW - 2_000, referrer="https://news.example/a"),
        delivered("m3", receivedAt=NOW - 1_000, referrer="https://news.example/b"),
    ]
    ddb = ScriptedDynamoDB()
    assert count_exactly_once(ddb, TABLES, "referrer", deliveries, referrer_increment, now=NOW) == []
    [request] = ddb.requests
    assert ddb.markers(0) == ["referrer#e-m2", "referrer#e-m3"]
    assert request["TransactItems"][0]["Update"]["ExpressionAttributeValues"] == {":a0": {"N": "2"}}


def test_ledger_transaction_written_exactly_as_dynamodb_needs_it() -> None:
    """The whole request for one post: its tables, the counts, the first title kept by
    if_not_exists, and a marker that lives MARKER_TTL after the view was received."""
    ddb = ScriptedDynamoDB()
    received = NOW - 1_234
    assert count(ddb, [delivered("m1", receivedAt=received, articleTitle="Hello")]) == []
    [request] = ddb.requests
    update, marker = request["TransactItems"]
    assert update == {
        "Update": {
            "TableName": "t-PostCountWriter",
            "Key": {"articleId": {"S": "hello-world"}},
            "UpdateExpression": "ADD #a0 :a0, #a1 :a1 SET #s0 = if_not_exists(#s0, :s0)",
            "ExpressionAttributeNames": {"#a0": "totalViews", "#a1": "uniqueViews", "#s0": "articleTitle"},
            "ExpressionAttributeValues": {":a0": {"N": "1"}, ":a1": {"N": "1"}, ":s0": {"S": "Hello"}},
        }
    }
    assert marker == {
        "Put": {
            "TableName": "t-CountedEvents",
            "Item": {"markerId": {"S": "views#e-m1"}, "expiresAt": {"N": str(received // 1000 + MARKER_TTL_SECONDS)}},
            "ConditionExpression": "attribute_not_exists(markerId)",
        }
    }


def test_ledger_update_without_a_title_has_no_set_clause() -> None:
    ddb = ScriptedDynamoDB()
    assert count(ddb, [delivered("m1", articleTitle=None)]) == []
    assert ddb.requests[0]["TransactItems"][0]["Update"]["UpdateExpression"] == "ADD #a0 :a0, #a1 :a1"


def test_ledger_signed_title_overwrites_and_is_the_only_set_of_the_title() -> None:
    """A title the blog signed replaces the stored one; an unsigned title in the same
    batch must not add a second SET of the same path (DynamoDB refuses overlapping paths)."""
    deliveries = [
        delivered("m1", receivedAt=NOW - 3_000, articleTitle="Stranger's"),
        delivered("m2", receivedAt=NOW - 2_000, articleTitle="Signed", titleSigned=True),
    ]
    ddb = ScriptedDynamoDB()
    assert count(ddb, deliveries) == []
    update = ddb.requests[0]["TransactItems"][0]["Update"]
    assert update["UpdateExpression"] == "ADD #a0 :a0, #a1 :a1 SET #o0 = :o0"
    assert update["ExpressionAttributeNames"] == {"#a0": "totalViews", "#a1": "uniqueViews", "#o0": "articleTitle"}
    assert update["ExpressionAttributeValues"][":o0"] == {"S": "Signed"}


def test_ledger_token_is_a_hash_of_the_requests_content_not_of_its_dict_order() -> None:
    """DynamoDB compares a token's parameters, not the order of their keys."""
    assert request_token([{"a": 1, "b": {"c": 2, "d": 3}}]) == request_token([{"b": {"d": 3, "c": 2}, "a": 1}])
    assert len(request_token([{}])) == 36 and request_token([{}]) == hashlib.sha256(b"[{}]").hexdigest()[:36]


def test_ledger_clock_is_epoch_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: 1_800_000_000_123_456_789)
    result = now_ms()
    assert result == 1_800_000_000_123 and isinstance(result, int)


def test_ledger_given_clock_decides_the_age(capsys: pytest.CaptureFixture[str]) -> None:
    """`now` is the clock: an event old at that time is refused even when it is recent
    by the machine's clock (the tests' NOW is after today)."""
    old = delivered("m1", receivedAt=NOW - MAX_EVENT_AGE_SECONDS * 1000 - DAY_SECONDS * 1000 // 4)
    older = delivered("m2", receivedAt=NOW - MAX_EVENT_AGE_SECONDS * 1000 - DAY_SECONDS * 1000 // 3)
    ddb = ScriptedDynamoDB()
    assert count(ddb, [old, older, delivered("m3")]) == ["m1", "m2"]
    assert ddb.markers(0) == ["views#e-m3"]
    line = logged(capsys.readouterr().out, "event_too_old")
    assert line == {
        "level": "warn",
        "event": "event_too_old",
        "purpose": "views",
        "events": 2,
        "oldestAgeDays": 59.3,
        "maxAgeDays": 59,
    }
    assert isinstance(line["maxAgeDays"], int)


def test_ledger_hot_key_split_counts_every_view_once() -> None:
    deliveries = [delivered(f"m{i:03}", receivedAt=NOW - 1_000 + i) for i in range(150)]
    ddb = ScriptedDynamoDB()
    assert count(ddb, deliveries) == []
    assert [len(ddb.markers(i)) for i in range(len(ddb.requests))] == [99, 51]
    assert sorted(ddb.markers(0) + ddb.markers(1)) == [f"views#e-m{i:03}" for i in range(150)]
    assert [ddb.total_views(i) for i in range(2)] == ["99", "51"]


def test_ledger_failed_write_logged_with_the_error_and_the_messages(capsys: pytest.CaptureFixture[str]) -> None:
    error = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "TransactWriteItems")
    assert count(ScriptedDynamoDB(error), [delivered("m1"), delivered("m2")]) == ["m1", "m2"]
    line = logged(capsys.readouterr().out, "count_write_failed")
    assert line == {
        "level": "error",
        "event": "count_write_failed",
        "purpose": "views",
        "error": "ThrottlingException",
        "messages": 2,
    }


def test_ledger_unanswered_write_logged_with_the_exceptions_name(capsys: pytest.CaptureFixture[str]) -> None:
    ddb = ScriptedDynamoDB(EndpointConnectionError(endpoint_url="https://dynamodb.invalid"))
    assert count(ddb, [delivered("m1")]) == ["m1"]
    line = logged(capsys.readouterr().out, "count_write_failed")
    assert line == {
        "level": "error",
        "event": "count_write_failed",
        "purpose": "views",
        "error": "EndpointConnectionError",
    }


def test_ledger_skipped_duplicates_logged(capsys: pytest.CaptureFixture[str]) -> None:
    ddb = ScriptedDynamoDB(canceled("None", "ConditionalCheckFailed", "ConditionalCheckFailed", "None"))
    assert count(ddb, [delivered(f"m{i}", receivedAt=NOW - 1_000 + i) for i in range(3)]) == []
    line = logged(capsys.readouterr().out, "duplicate_skipped")
    assert line == {
        "level": "info",
        "event": "duplicate_skipped",
        "purpose": "views",
        "count": 2,
    }


def test_ledger_conflict_retries_wait_longer_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    ddb = ScriptedDynamoDB(*[canceled("TransactionConflict", "None")] * CONFLICT_RETRIES)
    assert count(ddb, [delivered("m1")]) == []
    assert waits == [CONFLICT_BACKOFF_SECONDS * n for n in range(1, CONFLICT_RETRIES + 1)]


def test_ledger_batch_of_signed_titles_only_is_counted() -> None:
    """No unsigned title to drop in favour of the signed one: the batch still commits
    (a crash here would retry the whole batch until it reached the DLQ, uncounted)."""
    deliveries = [
        delivered(f"m{i}", receivedAt=NOW - 1_000 + i, articleTitle="Signed", titleSigned=True) for i in range(2)
    ]
    ddb = ScriptedDynamoDB()
    assert count(ddb, deliveries) == []
    assert ddb.requests[0]["TransactItems"][0]["Update"]["UpdateExpression"] == "ADD #a0 :a0, #a1 :a1 SET #o0 = :o0"


def test_ledger_update_with_several_set_clauses_separates_them() -> None:
    write = KeyWrite(key={"k": {"S": "x"}}, adds={"n": 1}, sets={"a": "first"}, overwrites={"b": "latest"})
    expression = update_item("t", write)["Update"]["UpdateExpression"]
    assert expression == "ADD #a0 :a0 SET #s0 = if_not_exists(#s0, :s0), #o0 = :o0"
