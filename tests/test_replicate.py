"""replicate: the writer's stream into the reader, idempotent and order-independent."""

from __future__ import annotations

import random
from typing import Any

from conftest import Cloud, sqs_event, sqs_record, stream_record, view_event
from faults import fail

from handlers import aws, counter, replicate
from handlers.wiring import POST_COUNT_READER, POST_COUNT_WRITER


def image(article_id: str, total: int, unique: int, title: str = "T") -> dict[str, Any]:
    return {
        "articleId": {"S": article_id},
        "articleTitle": {"S": title},
        "totalViews": {"N": str(total)},
        "uniqueViews": {"N": str(unique)},
    }


def real_stream_records(cloud: Cloud) -> list[dict[str, Any]]:
    """Every record moto's DynamoDB stream holds for the writer table, in AWS's shape."""
    arn = cloud.ddb.describe_table(TableName=cloud.table(POST_COUNT_WRITER))["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in cloud.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = cloud.streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += cloud.streams.get_records(ShardIterator=iterator)["Records"]
    for record in records:
        record["dynamodb"]["ApproximateCreationDateTime"] = 0  # a datetime from boto3; a number in Lambda
    return records


def reader(cloud: Cloud) -> dict[str, dict[str, Any]]:
    return {i["articleId"]["S"]: i for i in cloud.items(POST_COUNT_READER)}


def writer(cloud: Cloud) -> dict[str, dict[str, Any]]:
    return {i["articleId"]["S"]: i for i in cloud.items(POST_COUNT_WRITER)}


def test_replicate_copies_stream_into_reader(cloud: Cloud) -> None:
    for title in ("First", "Second"):
        counter.handler(sqs_event([sqs_record(view_event(articleTitle=title)) for _ in range(2)]), None)
    records = real_stream_records(cloud)
    assert replicate.handler({"Records": records}, None) == {"batchItemFailures": []}
    assert reader(cloud) == writer(cloud)
    assert reader(cloud)["hello-world"]["articleTitle"] == {"S": "First"}  # views never rename a post


def test_replicate_replayed_and_reordered_records_reader_equals_writer(cloud: Cloud) -> None:
    rng = random.Random(7)
    for _ in range(8):
        batch = [
            sqs_record(view_event(articleId=rng.choice(["a", "b", "c"]), unique=rng.random() < 0.5))
            for _ in range(rng.randint(1, 5))
        ]
        counter.handler(sqs_event(batch), None)
    records = real_stream_records(cloud)
    replayed = records + rng.sample(records, len(records) // 2)
    rng.shuffle(replayed)
    for start in range(0, len(replayed), 3):  # several Lambda invocations, in any order
        assert replicate.handler({"Records": replayed[start : start + 3]}, None)["batchItemFailures"] == []
    assert reader(cloud) == writer(cloud)
    replicate.handler({"Records": records[:1]}, None)  # an old record, replayed late
    assert reader(cloud) == writer(cloud)


def test_replicate_older_image_never_moves_count_backwards(cloud: Cloud) -> None:
    replicate.handler({"Records": [stream_record(image("a", 5, 4), "200")]}, None)
    replicate.handler({"Records": [stream_record(image("a", 3, 3), "100")]}, None)
    assert reader(cloud)["a"]["totalViews"] == {"N": "5"}


def test_replicate_newest_image_per_article_in_batch(cloud: Cloud) -> None:
    batch = [
        stream_record(image("a", 2, 2, "old"), "1"),
        stream_record(image("a", 4, 3, "new"), "2"),
        stream_record(image("a", 3, 3, "mid"), "3"),
    ]
    replicate.handler({"Records": batch}, None)
    assert reader(cloud)["a"] == image("a", 4, 3, "new")


def test_replicate_bad_record_reported_by_sequence_number(cloud: Cloud) -> None:
    batch = [
        stream_record(image("a", 1, 1), "10"),
        stream_record({**image("b", 1, 1), "totalViews": {"S": "x"}}, "11"),
        stream_record(None, "12"),
        stream_record(image("c", 1, 1), "13"),
    ]
    response = replicate.handler({"Records": batch}, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}, {"itemIdentifier": "12"}]}
    assert set(reader(cloud)) == {"a", "c"}


def test_replicate_remove_is_ignored(cloud: Cloud) -> None:
    replicate.handler({"Records": [stream_record(image("a", 2, 1), "1")]}, None)
    removal = stream_record(None, "2", event_name="REMOVE")
    assert replicate.handler({"Records": [removal]}, None) == {"batchItemFailures": []}
    assert "a" in reader(cloud)


def test_replicate_write_failure_reports_that_articles_records(cloud: Cloud) -> None:
    fail(
        aws.client("dynamodb"),
        "PutItem",
        "ProvisionedThroughputExceededException",
        when=lambda params: params["Item"].get("articleId") == {"S": "b"},
    )
    batch = [
        stream_record(image("b", 1, 1), "1"),
        stream_record(image("a", 1, 1), "2"),
        stream_record(image("b", 2, 2), "3"),
    ]
    response = replicate.handler({"Records": batch}, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "1"}, {"itemIdentifier": "3"}]}
    assert set(reader(cloud)) == {"a"}
