"""replicate-repair's batch and handler (handlers/repair.py: repair, repair_batch, handler)
with the stream reading and copying replaced by recorders: written for mutation testing
(tests/MUTATION.md). tests/test_repair.py checks the repair on moto; these pin which path a
failure takes, what each step is given, the log lines and the messages reported."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from handlers import repair, top_posts
from handlers.repair import FailedRange, Tables
from handlers.settings import load_settings
from handlers.wiring import POST_COUNT_READER, POST_COUNT_WRITER, TOP_POSTS

TABLES = Tables("W", "R", "T")
DDB, STREAMS = object(), object()
FAILED = FailedRange("arn:stream", "shard-1", 10, 20)


def body(start: int = 10, end: int = 20) -> str:
    info = {"streamArn": "arn:stream", "shardId": "shard-1", "startSequenceNumber": str(start)}
    return json.dumps({"DDBStreamBatchInfo": {**info, "endSequenceNumber": str(end)}})


def logged(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


class Steps:
    """Records the calls repair makes; read_range answers `keys`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, keys: set[str] | None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.keys = keys

        def read_range(streams: Any, failed: FailedRange) -> set[str] | None:
            self.calls.append(("read_range", streams is STREAMS, failed))
            return self.keys

        def reconcile_all(ddb: Any, tables: Tables) -> tuple[int, tuple[str, ...]]:
            self.calls.append(("reconcile_all", ddb is DDB, tables))
            return 3, ("best",)

        def repair_posts(ddb: Any, tables: Tables, article_ids: Any) -> list[str]:
            self.calls.append(("repair_posts", ddb is DDB, tables, sorted(article_ids)))
            return ["copied"]

        def merge_into_top(ddb: Any, table: str, candidates: Any) -> bool:
            self.calls.append(("merge_into_top", ddb is DDB, table, candidates))
            return True

        monkeypatch.setattr(repair, "read_range", read_range)
        monkeypatch.setattr(repair, "reconcile_all", reconcile_all)
        monkeypatch.setattr(repair, "repair_posts", repair_posts)
        monkeypatch.setattr(top_posts, "merge_into_top", merge_into_top)


def test_repair_range_in_the_stream_copies_its_posts_then_merges_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = Steps(monkeypatch, {"b", "a"})
    repair.repair(DDB, STREAMS, TABLES, FAILED)
    assert steps.calls == [
        ("read_range", True, FAILED),
        ("repair_posts", True, TABLES, ["a", "b"]),
        ("merge_into_top", True, "T", ["copied"]),
    ]
    assert [(e["level"], e["event"], e["posts"], e["copied"]) for e in logged(capsys)] == [
        ("info", "repair_range", 2, 1)
    ]


def test_repair_range_gone_from_the_stream_reconciles_every_post(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = Steps(monkeypatch, None)
    repair.repair(DDB, STREAMS, TABLES, FAILED)
    assert steps.calls == [
        ("read_range", True, FAILED),
        ("reconcile_all", True, TABLES),
        ("merge_into_top", True, "T", ("best",)),
    ]
    assert [(e["level"], e["event"], e["reason"], e["copied"]) for e in logged(capsys)] == [
        ("warn", "repair_reconciled_all", "range_not_in_stream", 3)
    ]


def test_repair_of_an_empty_range_still_merges_nothing_new(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty set is a range read back with no post in it, not a range gone from the stream."""
    steps = Steps(monkeypatch, set())
    repair.repair(DDB, STREAMS, TABLES, FAILED)
    assert [c[0] for c in steps.calls] == ["read_range", "repair_posts", "merge_into_top"]


def test_repair_batch_reports_malformed_and_failed_messages_and_repairs_the_rest(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repaired: list[tuple[bool, bool, Tables, FailedRange]] = []
    errors: dict[int, Exception] = {
        30: ClientError({"Error": {"Code": "InternalServerError"}}, "GetRecords"),
        40: top_posts.TopContended("x"),
        50: EndpointConnectionError(endpoint_url="http://x"),
    }

    def fake_repair(ddb: Any, streams: Any, tables: Tables, failed: FailedRange) -> None:
        repaired.append((ddb is DDB, streams is STREAMS, tables, failed))
        if failed.start in errors:
            raise errors[failed.start]

    monkeypatch.setattr(repair, "repair", fake_repair)
    records = [
        {"messageId": "m1", "body": "{}"},
        {"messageId": "m2", "body": body(10, 20)},
        {"messageId": "m3", "body": body(30, 31)},
        {"body": body(20, 10)},
        {"messageId": "m5", "body": body(40, 41)},
        {"messageId": "m6", "body": body(50, 51)},
        {"messageId": "m7"},
        {"messageId": "m8", "body": body(60, 60)},
    ]
    assert repair.repair_batch(DDB, STREAMS, TABLES, records) == ["m1", "m3", "", "m5", "m6", "m7"]
    assert [r[3].start for r in repaired] == [10, 30, 40, 50, 60]
    assert repaired[0] == (True, True, TABLES, FAILED)
    assert [(e["level"], e["event"], e.get("error")) for e in logged(capsys)] == [
        ("error", "repair_message_malformed", None),
        ("error", "repair_failed", "ClientError"),
        ("error", "repair_message_malformed", None),
        ("error", "repair_failed", "TopContended"),
        ("error", "repair_failed", "EndpointConnectionError"),
        ("error", "repair_message_malformed", None),
    ]


def test_repair_batch_lets_an_unforeseen_error_fail_the_whole_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_repair(ddb: Any, streams: Any, tables: Tables, failed: FailedRange) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(repair, "repair", fake_repair)
    with pytest.raises(KeyError):
        repair.repair_batch(DDB, STREAMS, TABLES, [{"messageId": "m1", "body": body()}])


@pytest.mark.parametrize(("event", "records"), [({"Records": [{"messageId": "m1"}]}, [{"messageId": "m1"}]), ({}, [])])
def test_repair_handler_repairs_with_the_stacks_tables_and_clients(
    handler_env: None, monkeypatch: pytest.MonkeyPatch, event: dict[str, Any], records: list[Any]
) -> None:
    clients = {"dynamodb": DDB, "dynamodbstreams": STREAMS}

    class Aws:
        @staticmethod
        def client(service: str) -> Any:
            return clients[service]

    seen: list[tuple[Any, ...]] = []

    def repair_batch(ddb: Any, streams: Any, tables: Tables, given: Any) -> list[str]:
        seen.append((ddb is DDB, streams is STREAMS, tables, given))
        return ["m1", "m1", "m2"]

    monkeypatch.setattr(repair, "aws", Aws)
    monkeypatch.setattr(repair, "repair_batch", repair_batch)
    settings = load_settings()
    tables = Tables(settings.table(POST_COUNT_WRITER), settings.table(POST_COUNT_READER), settings.table(TOP_POSTS))
    assert repair.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert seen == [(True, True, tables, records)]
