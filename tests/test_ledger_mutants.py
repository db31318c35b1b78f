"""The ledger's commit loop on a scripted DynamoDB client: the retry budget, which errors
are retried, and which messages a failure reports. Written to kill the mutants of
handlers/ledger.py that the moto tests let survive (tests/MUTATION.md)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError
from support.events import view_event

from handlers.counter import view_increment
from handlers.ledger import CONFLICT_RETRIES, Tables, count_exactly_once
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
