"""The local stack's cheap rollback for moto's DynamoDB transactions keeps all-or-nothing."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from support.aws import fake_aws_environment

from handlers.wiring import COUNTED_EVENTS, POST_COUNT_WRITER, WIRING, create_table_request
from local import moto_transactions
from local.emulator import patched

WRITER, MARKERS = f"t-{POST_COUNT_WRITER}", f"t-{COUNTED_EVENTS}"


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_environment(monkeypatch)
    with mock_aws(), patched(moto_transactions.PATCHES):
        client = boto3.client("dynamodb")
        for spec in WIRING.tables:
            client.create_table(**create_table_request(spec, "t"))
        yield client


def count(article: str, marker: str) -> list[dict[str, Any]]:
    return [
        {
            "Update": {
                "TableName": WRITER,
                "Key": {"articleId": {"S": article}},
                "UpdateExpression": "ADD totalViews :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {
            "Put": {
                "TableName": MARKERS,
                "Item": {"markerId": {"S": marker}},
                "ConditionExpression": "attribute_not_exists(markerId)",
            }
        },
    ]


def stream_length(ddb: Any) -> int:
    streams = boto3.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=WRITER)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return len(streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"])


def total(ddb: Any, article: str) -> int:
    item = ddb.get_item(TableName=WRITER, Key={"articleId": {"S": article}}).get("Item", {})
    return int(item.get("totalViews", {"N": "0"})["N"])


def test_moto_transaction_commits_all_items(ddb: Any) -> None:
    ddb.transact_write_items(TransactItems=count("a", "m1"))
    assert total(ddb, "a") == 1 and "Item" in ddb.get_item(TableName=MARKERS, Key={"markerId": {"S": "m1"}})


def test_moto_cancelled_transaction_leaves_items_and_stream_as_they_were(ddb: Any) -> None:
    ddb.transact_write_items(TransactItems=count("a", "m1"))
    records = stream_length(ddb)
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(TransactItems=count("a", "m1"))  # the marker exists: all or nothing
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert total(ddb, "a") == 1
    assert stream_length(ddb) == records, "the rolled-back update must not reach the stream"


def test_moto_cancelled_transaction_removes_an_item_it_created(ddb: Any) -> None:
    ddb.put_item(TableName=MARKERS, Item={"markerId": {"S": "m2"}})
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=count("new", "m2"))
    assert "Item" not in ddb.get_item(TableName=WRITER, Key={"articleId": {"S": "new"}})
    assert stream_length(ddb) == 0


def test_moto_transactions_no_longer_copy_whole_tables(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    copied: list[str] = []
    real = copy.deepcopy

    def spy(obj: Any, memo: Any = None) -> Any:
        copied.append(type(obj).__name__)
        return real(obj, memo)

    monkeypatch.setattr(copy, "deepcopy", spy)  # what the patched transaction really copies
    for i in range(3):
        ddb.transact_write_items(TransactItems=count("a", f"m{i}"))
    assert copied and "Table" not in copied
