"""replicate-repair: what replicate's stream mapping gave up on is copied from the writer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.aws import Cloud
from support.events import sample, sqs_event, sqs_record, view_event
from support.faults import fail

from handlers import aws, counter, repair, replicate, top_posts
from handlers.wiring import POST_COUNT_READER, POST_COUNT_WRITER, TOP_POSTS


def count(cloud: Cloud, article_id: str, views: int = 1) -> None:
    event = sqs_event([sqs_record(view_event(articleId=article_id)) for _ in range(views)])
    assert counter.handler(event, None) == {"batchItemFailures": []}


def stream(cloud: Cloud) -> tuple[str, str, list[dict[str, Any]]]:
    """The writer's stream ARN, its shard and every record it holds."""
    stream = cloud.stream(POST_COUNT_WRITER)
    (shard,) = stream.shards
    return stream.arn, shard, stream.records


def skipped(arn: str, shard_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """What Lambda sends to the on-failure queue when it gives up on these records: their
    position, never the records (AWS's documented example, with this stream's values)."""
    message = sample("stream_failure")
    info = message["DDBStreamBatchInfo"]
    info["shardId"], info["streamArn"], info["batchSize"] = shard_id, arn, len(records)
    info["startSequenceNumber"] = records[0]["dynamodb"]["SequenceNumber"]
    info["endSequenceNumber"] = records[-1]["dynamodb"]["SequenceNumber"]
    return sqs_record(json.dumps(message))


def drop(records: list[dict[str, Any]]) -> None:
    """replicate fails on these records every time: the mapping would skip them."""
    failing = [True]
    fail(aws.client("dynamodb"), "PutItem", "ProvisionedThroughputExceededException", when=lambda _: failing[0])
    response = replicate.handler({"Records": records}, None)
    failing[0] = False
    assert len(response["batchItemFailures"]) == len(records)


def table(cloud: Cloud, name: str) -> dict[str, dict[str, Any]]:
    return {i["articleId"]["S"]: i for i in cloud.items(name)}


def test_repair_dropped_stream_records_reader_equals_writer(cloud: Cloud) -> None:
    count(cloud, "a", 2)
    count(cloud, "b")
    arn, shard_id, records = stream(cloud)
    assert replicate.handler({"Records": records}, None) == {"batchItemFailures": []}
    count(cloud, "a", 3)
    count(cloud, "b", 2)
    _, _, records = stream(cloud)
    dropped = records[len(records) // 2 :]  # everything after the first, replicated, half
    drop(dropped)
    assert table(cloud, POST_COUNT_READER) != table(cloud, POST_COUNT_WRITER), (
        "the fault did not leave the reader behind"
    )
    assert repair.handler(sqs_event([skipped(arn, shard_id, dropped)]), None) == {"batchItemFailures": []}
    assert table(cloud, POST_COUNT_READER) == table(cloud, POST_COUNT_WRITER)


def test_repair_copies_only_the_posts_of_the_skipped_range(cloud: Cloud) -> None:
    count(cloud, "a")
    arn, shard_id, before = stream(cloud)
    count(cloud, "b")
    _, _, records = stream(cloud)
    dropped = records[len(before) :]
    assert {r["dynamodb"]["Keys"]["articleId"]["S"] for r in dropped} == {"b"}
    repair.handler(sqs_event([skipped(arn, shard_id, dropped)]), None)
    assert set(table(cloud, POST_COUNT_READER)) == {"b"}


def test_repair_redelivered_failure_message_changes_nothing(cloud: Cloud) -> None:
    count(cloud, "a", 2)
    arn, shard_id, records = stream(cloud)
    message = skipped(arn, shard_id, records)
    repair.handler(sqs_event([message]), None)
    count(cloud, "a")
    replicate.handler({"Records": stream(cloud)[2]}, None)
    expected = table(cloud, POST_COUNT_WRITER)
    assert repair.handler(sqs_event([message]), None) == {"batchItemFailures": []}  # a late, old message
    assert table(cloud, POST_COUNT_READER) == expected


def test_repair_range_gone_from_the_stream_reconciles_every_post(cloud: Cloud) -> None:
    for article in ("a", "b", "c"):
        count(cloud, article)
    arn, shard_id, records = stream(cloud)
    fail(aws.client("dynamodbstreams"), "GetShardIterator", "TrimmedDataAccessException")
    assert repair.handler(sqs_event([skipped(arn, shard_id, records[:1])]), None) == {"batchItemFailures": []}
    assert table(cloud, POST_COUNT_READER) == table(cloud, POST_COUNT_WRITER)


def test_repair_write_failure_reports_the_message(cloud: Cloud) -> None:
    count(cloud, "a")
    arn, shard_id, records = stream(cloud)
    message = skipped(arn, shard_id, records)
    fail(aws.client("dynamodb"), "PutItem", "ProvisionedThroughputExceededException")
    assert repair.handler(sqs_event([message]), None) == {
        "batchItemFailures": [{"itemIdentifier": message["messageId"]}]
    }


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "{}",
        json.dumps({"DDBStreamBatchInfo": {"shardId": "s", "streamArn": "a", "startSequenceNumber": "x"}}),
        json.dumps(
            {
                "DDBStreamBatchInfo": {
                    "shardId": "s",
                    "streamArn": "a",
                    "startSequenceNumber": "9",
                    "endSequenceNumber": "1",
                }
            }
        ),
    ],
)
def test_repair_malformed_message_reported_alone(cloud: Cloud, body: str) -> None:
    count(cloud, "a")
    arn, shard_id, records = stream(cloud)
    bad = sqs_record(body)
    response = repair.handler(sqs_event([bad, skipped(arn, shard_id, records)]), None)
    assert response == {"batchItemFailures": [{"itemIdentifier": bad["messageId"]}]}
    assert table(cloud, POST_COUNT_READER) == table(cloud, POST_COUNT_WRITER)


def top_ids(cloud: Cloud) -> list[tuple[str, int]]:
    return [(p.article_id, p.total) for p in top_posts.read_top(aws.client("dynamodb"), cloud.table(TOP_POSTS)).posts]


def test_repair_skipped_records_reach_the_top_posts(cloud: Cloud) -> None:
    count(cloud, "a", 2)
    count(cloud, "b", 3)
    arn, shard_id, records = stream(cloud)
    # replicate never copied them (retries exhausted): neither the reader nor the top holds them
    assert top_ids(cloud) == []
    assert repair.handler(sqs_event([skipped(arn, shard_id, records)]), None) == {"batchItemFailures": []}
    assert top_ids(cloud) == [("b", 3), ("a", 2)]


def test_repair_reconciling_every_post_fills_the_top_posts(cloud: Cloud) -> None:
    for article, views in (("a", 1), ("b", 3), ("c", 2)):
        count(cloud, article, views)
    arn, shard_id, records = stream(cloud)
    fail(aws.client("dynamodbstreams"), "GetShardIterator", "TrimmedDataAccessException")
    assert repair.handler(sqs_event([skipped(arn, shard_id, records[:1])]), None) == {"batchItemFailures": []}
    assert top_ids(cloud) == [("b", 3), ("c", 2), ("a", 1)]
