"""The series functions (handlers/series.py) on a scripted DynamoDB client: written for
mutation testing (tests/MUTATION.md). tests/test_series.py checks the snapshots on moto;
these pin each record's reading, the coalescing, every request sent and the records
reported, in seconds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from handlers import alerts, series
from handlers import aws as real_aws
from handlers.series import ItemWrite, Snapshot
from handlers.settings import load_settings
from handlers.wiring import ENV_ALERT_TOPIC_ARN, ENV_ALERT_VIEWS_PER_HOUR, SERIES

AT = 1_800_003_599  # 2027-01-15T08:59:59Z, the last second of hour 08
HOUR = "2027-01-15T08"
DAY = "2027-01-15"
ORIGIN = "https://lobste.rs"
SNS = object()


def condition_failed() -> ClientError:
    return ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "UpdateItem")


class ScriptedDynamoDB:
    """Records each UpdateItem; answers them with the scripted outcomes in turn (None: applied)."""

    def __init__(self, outcomes: list[Exception | None] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.outcomes = list(outcomes or [])
        self.failing_keys: set[str] = set()

    def update_item(self, **request: Any) -> dict[str, Any]:
        self.requests.append(json.loads(json.dumps(request)))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if request["Key"]["seriesKey"]["S"] in self.failing_keys:
            outcome = ClientError({"Error": {"Code": "InternalServerError"}}, "UpdateItem")
        if outcome is not None:
            raise outcome
        return {}


def record(new: dict[str, Any], sequence_number: str = "1", old: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"NewImage": new, "SequenceNumber": sequence_number, "ApproximateCreationDateTime": AT}
    if old is not None:
        data["OldImage"] = old
    return {"eventName": "MODIFY", "dynamodb": data}


def post(article_id: str, total: int | None, unique: int | None = None) -> dict[str, Any]:
    image: dict[str, Any] = {"articleId": {"S": article_id}}
    if total is not None:
        image["totalViews"] = {"N": str(total)}
    if unique is not None:
        image["uniqueViews"] = {"N": str(unique)}
    return image


def referrer(views: int | None, target: str = "post:a") -> dict[str, Any]:
    image: dict[str, Any] = {"referrer": {"S": ORIGIN}, "target": {"S": target}}
    if views is not None:
        image["views"] = {"N": str(views)}
    return image


# ---- reading a record ------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [True, "1800003599", None, -1, -0.5])
def test_series_bucket_time_refuses_what_is_not_epoch_seconds(seconds: object) -> None:
    with pytest.raises(ValueError):
        series.bucket_time(seconds)


def test_series_bucket_time_rounds_down_to_the_second() -> None:
    assert series.bucket_time(3599.99).isoformat() == "1970-01-01T00:59:59+00:00"
    assert series.bucket_time(0).isoformat() == "1970-01-01T00:00:00+00:00"


def test_series_post_record_snapshots_its_hour() -> None:
    assert series.snapshots_of(record(post("a", 7, 4)), False) == [
        Snapshot("post#a", HOUR, (("totalViews", 7), ("uniqueViews", 4)))
    ]


def test_series_page_record_and_missing_unique_count_as_zero() -> None:
    image = {"pageName": {"S": "Home_Page"}, "totalViews": {"N": "0"}}
    assert series.snapshots_of(record(image), True) == [
        Snapshot("page#Home_Page", HOUR, (("totalViews", 0), ("uniqueViews", 0)))
    ]


@pytest.mark.parametrize("made", [record(post("a", None, 3)), record(referrer(None))])
def test_series_key_only_insert_feeds_nothing(made: dict[str, Any]) -> None:
    assert series.snapshots_of(made, True) == []


def test_series_remove_feeds_nothing() -> None:
    assert series.snapshots_of({"eventName": "REMOVE", "dynamodb": {}}, True) == []


@pytest.mark.parametrize(
    "new",
    [
        post("a", -1),
        post("a", 3, -1),
        post("", 3),
        {"pageName": {"S": ""}, "totalViews": {"N": "1"}},
        referrer(-1),
        {"referrer": {"S": ""}, "target": {"S": "post:a"}, "views": {"N": "1"}},
        referrer(1, target="tag:a"),
        referrer(1, target="post:"),
        referrer(1, target="post"),
        referrer(1, target=":a"),
    ],
)
def test_series_malformed_image_raises(new: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        series.snapshots_of(record(new), True)


def test_series_target_key_keeps_colons_in_the_name() -> None:
    assert series.target_key("post:a:b") == "post#a:b"
    assert series.target_key("page:Home_Page") == "page#Home_Page"


def test_series_referrer_record_without_alerts_is_its_day_only() -> None:
    assert series.snapshots_of(record(referrer(5, "page:Home_Page"), old=referrer(4)), False) == [
        Snapshot(f"ref#{ORIGIN}", f"{DAY}#page#Home_Page", (("views", 5),))
    ]


@pytest.mark.parametrize(("old", "base"), [(referrer(3), 3), (None, 0), (referrer(9), 5), ({}, 0)])
def test_series_referrer_record_with_alerts_adds_its_hour_and_base(old: dict[str, Any] | None, base: int) -> None:
    """The base is the total before the record, never above the record's own total."""
    assert series.snapshots_of(record(referrer(5), old=old), True) == [
        Snapshot(f"ref#{ORIGIN}", f"{DAY}#post#a", (("views", 5),)),
        Snapshot("refh#post#a", f"{HOUR}#{ORIGIN}", (("views", 5),), base=base),
    ]


def test_series_batch_reports_each_unreadable_record_and_reads_the_rest() -> None:
    event = {
        "Records": [
            record(post("a", -1), "10"),
            {"eventName": "MODIFY"},
            record(post("a", 2, 1), "11"),
            {"dynamodb": {"SequenceNumber": "12", "NewImage": post("b", 1), "ApproximateCreationDateTime": "x"}},
            record(referrer(4), "13"),
        ]
    }
    batch = series.parse_stream_batch(event, hourly_referrers=True)
    assert batch.rejected == ["10", "", "12"]
    assert [(n, s.series_key) for n, s in batch.snapshots] == [
        ("11", "post#a"),
        ("13", f"ref#{ORIGIN}"),
        ("13", "refh#post#a"),
    ]
    assert [s.series_key for _, s in series.parse_stream_batch(event).snapshots] == ["post#a", f"ref#{ORIGIN}"]
    assert series.parse_stream_batch({}) == series.SeriesBatch([], [])


# ---- coalescing and the requests ---------------------------------------------------------


def test_series_coalesce_keeps_the_highest_totals_and_the_lowest_base() -> None:
    a1 = Snapshot("post#a", HOUR, (("totalViews", 5), ("uniqueViews", 3)))
    a2 = Snapshot("post#a", HOUR, (("totalViews", 4), ("uniqueViews", 4)))
    b = Snapshot("post#b", HOUR, (("totalViews", 1), ("uniqueViews", 1)))
    h1 = Snapshot("refh#post#a", HOUR, (("views", 3),), base=2)
    h2 = Snapshot("refh#post#a", HOUR, (("views", 6),), base=1)
    h3 = Snapshot("refh#post#a", HOUR, (("views", 4),), base=5)
    writes = series.coalesce([("1", a1), ("2", b), ("3", a2), ("4", h1), ("5", h2), ("6", h3)])
    assert writes == [
        ItemWrite("post#a", HOUR, {"totalViews": 5, "uniqueViews": 4}, None, ["1", "3"]),
        ItemWrite("post#b", HOUR, {"totalViews": 1, "uniqueViews": 1}, None, ["2"]),
        ItemWrite("refh#post#a", HOUR, {"views": 6}, 1, ["4", "5", "6"]),
    ]
    day = Snapshot("ref#o", DAY, (("views", 2),))
    assert series.coalesce([("1", day), ("2", day)]) == [ItemWrite("ref#o", DAY, {"views": 2}, None, ["1", "2"])]
    first_without_base = series.coalesce([("1", Snapshot("refh#post#a", HOUR, (("views", 2),))), ("2", h1)])
    assert first_without_base[0].base == 2


def test_series_update_request_max_merges_the_totals() -> None:
    write = ItemWrite("post#a", HOUR, {"totalViews": 5, "uniqueViews": 4}, None)
    assert series.update_request("T", write) == {
        "TableName": "T",
        "Key": {"seriesKey": {"S": "post#a"}, "bucket": {"S": HOUR}},
        "UpdateExpression": "SET #t0 = :t0, #t1 = :t1",
        "ConditionExpression": "attribute_not_exists(#t0) OR #t0 < :t0",
        "ExpressionAttributeNames": {"#t0": "totalViews", "#t1": "uniqueViews"},
        "ExpressionAttributeValues": {":t0": {"N": "5"}, ":t1": {"N": "4"}},
    }


def test_series_update_request_with_a_base_asks_the_stored_base_not_above() -> None:
    write = ItemWrite("refh#post#a", f"{HOUR}#{ORIGIN}", {"views": 6}, 0)
    assert series.update_request("T", write) == {
        "TableName": "T",
        "Key": {"seriesKey": {"S": "refh#post#a"}, "bucket": {"S": f"{HOUR}#{ORIGIN}"}},
        "UpdateExpression": "SET #t0 = :t0, #b = if_not_exists(#b, :b)",
        "ConditionExpression": "attribute_not_exists(#t0) OR (#t0 < :t0 AND #b <= :b)",
        "ExpressionAttributeNames": {"#t0": "views", "#b": "base"},
        "ExpressionAttributeValues": {":t0": {"N": "6"}, ":b": {"N": "0"}},
    }


def test_series_held_back_write_with_a_base_merges_each_half() -> None:
    write = ItemWrite("refh#post#a", "B", {"views": 6}, 2)
    ddb = ScriptedDynamoDB([condition_failed(), condition_failed(), None])
    series.write_snapshot(ddb, "T", write)
    key = {"seriesKey": {"S": "refh#post#a"}, "bucket": {"S": "B"}}
    assert ddb.requests[1:] == [
        {
            "TableName": "T",
            "Key": key,
            "UpdateExpression": "SET #t = :t",
            "ConditionExpression": "attribute_not_exists(#t) OR #t < :t",
            "ExpressionAttributeNames": {"#t": "views"},
            "ExpressionAttributeValues": {":t": {"N": "6"}},
        },
        {
            "TableName": "T",
            "Key": key,
            "UpdateExpression": "SET #b = :b",
            "ConditionExpression": "attribute_not_exists(#b) OR #b > :b",
            "ExpressionAttributeNames": {"#b": "base"},
            "ExpressionAttributeValues": {":b": {"N": "2"}},
        },
    ]


@pytest.mark.parametrize(
    ("base", "outcomes", "requests"),
    [(None, [condition_failed()], 1), (2, [None], 1), (0, [condition_failed()], 3)],
)
def test_series_write_snapshot_merges_separately_only_a_held_back_base(
    base: int | None, outcomes: list[Exception | None], requests: int
) -> None:
    ddb = ScriptedDynamoDB(outcomes)
    series.write_snapshot(ddb, "T", ItemWrite("k", "B", {"views": 6}, base))
    assert len(ddb.requests) == requests


# ---- the batch's outcome -----------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem"),
        EndpointConnectionError(endpoint_url="http://x"),
    ],
)
def test_series_failed_write_reports_its_records_and_the_rest_are_written(
    error: Exception, capsys: pytest.CaptureFixture[str]
) -> None:
    writes = [ItemWrite("a", "B", {"views": 1}, None, ["1", "3"]), ItemWrite("b", "B", {"views": 1}, None, ["2"])]
    ddb = ScriptedDynamoDB([error, None])
    done, failed = series.write_all(ddb, "T", writes)
    assert (done, failed) == ([writes[1]], ["1", "3"])
    assert len(ddb.requests) == 2
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["level"], e["event"], e["error"]) for e in logged] == [
        ("error", "series_write_failed", type(error).__name__)
    ]


@pytest.fixture
def scripted(handler_env: None, monkeypatch: pytest.MonkeyPatch) -> ScriptedDynamoDB:
    ddb = ScriptedDynamoDB()
    clients: dict[str, Any] = {"dynamodb": ddb, "sns": SNS}
    monkeypatch.setattr(series, "aws", _Aws(clients))
    return ddb


class _Aws:
    """series' view of handlers.aws with the scripted clients (not aws.client itself:
    handler_env's teardown clears that function's cache)."""

    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients

    def client(self, service: str) -> Any:
        return self.clients[service]

    def written(self, write: Any, **request: Any) -> bool:
        return real_aws.written(write, **request)


def test_series_handler_writes_to_the_series_table_and_reports_bad_records_first(
    scripted: ScriptedDynamoDB, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted.outcomes = [ClientError({"Error": {"Code": "InternalServerError"}}, "UpdateItem")]
    event = {"Records": [record(post("a", 2), "1"), record(post("b", -1), "2"), record(referrer(3), "3")]}
    assert series.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "1"}]}
    assert {r["TableName"] for r in scripted.requests} == {load_settings().table(SERIES)}
    assert [r["Key"]["seriesKey"]["S"] for r in scripted.requests] == ["post#a", f"ref#{ORIGIN}"]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["level"], e.get("records")) for e in logged if e["event"] == "series_records_rejected"] == [("error", 1)]


def test_series_handler_logs_nothing_when_every_record_is_read(
    scripted: ScriptedDynamoDB, capsys: pytest.CaptureFixture[str]
) -> None:
    assert series.handler({"Records": [record(post("a", 2), "1")]}, None) == {"batchItemFailures": []}
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("topic", "views_per_hour", "checked"),
    [("arn:aws:sns:eu-west-1:1:alerts", 1, True), ("", 10, False), ("arn:aws:sns:eu-west-1:1:alerts", 0, False)],
)
def test_series_handler_checks_alerts_of_written_posts_and_pages_only(
    scripted: ScriptedDynamoDB, monkeypatch: pytest.MonkeyPatch, topic: str, views_per_hour: int, checked: bool
) -> None:
    monkeypatch.setenv(ENV_ALERT_VIEWS_PER_HOUR, str(views_per_hour))
    monkeypatch.setenv(ENV_ALERT_TOPIC_ARN, topic)
    real_aws.reset()
    calls: list[tuple[Any, ...]] = []

    def check(ddb: Any, sns: Any, table: str, rule: alerts.Rule, key: str, bucket: str, total: int) -> bool:
        calls.append((ddb is scripted, sns is SNS, table, rule, key, bucket, total))
        return key != "page#Home_Page"

    monkeypatch.setattr(alerts, "check", check)
    home = {"pageName": {"S": "Home_Page"}, "totalViews": {"N": "4"}}
    event = {
        "Records": [
            record(post("a", 12, 5), "1"),
            record(home, "2"),
            record(referrer(30), "3"),
            record(post("b", 1), "4"),
        ]
    }
    scripted.failing_keys = {"post#b"}
    failures = series.handler(event, None)["batchItemFailures"]
    table = load_settings().table(SERIES)
    if checked:
        rule = alerts.Rule(load_settings().stack, topic, views_per_hour)
        assert calls == [
            (True, True, table, rule, "post#a", HOUR, 12),
            (True, True, table, rule, "page#Home_Page", HOUR, 4),
        ]
        assert failures == [{"itemIdentifier": "4"}, {"itemIdentifier": "2"}]
    else:
        assert calls == []
        assert failures == [{"itemIdentifier": "4"}]
    keys = [r["Key"]["seriesKey"]["S"] for r in scripted.requests]
    assert ("refh#post#a" in keys) == (views_per_hour > 0), "the hourly referrer items are written with alerts on"


def test_series_every_failed_write_reports_its_records() -> None:
    """Two failed writes in a batch: both items' records are retried, or a snapshot is lost."""
    writes = [ItemWrite(k, "B", {"views": 1}, None, [k]) for k in ("a", "b", "c")]
    error = ClientError({"Error": {"Code": "InternalServerError"}}, "UpdateItem")
    done, failed = series.write_all(ScriptedDynamoDB([error, None, error]), "T", writes)
    assert (done, failed) == ([writes[1]], ["a", "c"])


def test_series_coalesce_keeps_a_lone_records_base() -> None:
    lone = Snapshot("refh#post#a", HOUR, (("views", 3),), base=2)
    assert series.coalesce([("1", lone)]) == [ItemWrite("refh#post#a", HOUR, {"views": 3}, 2, ["1"])]
