"""replicate: the writer's stream into the reader, idempotent and order-independent."""

from __future__ import annotations

import random
from typing import Any

from support.aws import Cloud
from support.events import post_item, sqs_event, sqs_record, stream_record, view_event
from support.faults import fail

from handlers import aws, counter, replicate
from handlers.wiring import POST_COUNT_READER, POST_COUNT_WRITER


def reader(cloud: Cloud) -> dict[str, dict[str, Any]]:
    return {i["articleId"]["S"]: i for i in cloud.items(POST_COUNT_READER)}


def writer(cloud: Cloud) -> dict[str, dict[str, Any]]:
    return {i["articleId"]["S"]: i for i in cloud.items(POST_COUNT_WRITER)}


def test_replicate_copies_stream_into_reader(cloud: Cloud) -> None:
    for title in ("First", "Second"):
        counter.handler(sqs_event([sqs_record(view_event(articleTitle=title)) for _ in range(2)]), None)
    records = cloud.stream().records
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
    records = cloud.stream().records
    replayed = records + rng.sample(records, len(records) // 2)
    rng.shuffle(replayed)
    for start in range(0, len(replayed), 3):  # several Lambda invocations, in any order
        assert replicate.handler({"Records": replayed[start : start + 3]}, None)["batchItemFailures"] == []
    assert reader(cloud) == writer(cloud)
    replicate.handler({"Records": records[:1]}, None)  # an old record, replayed late
    assert reader(cloud) == writer(cloud)


def test_replicate_older_image_never_moves_count_backwards(cloud: Cloud) -> None:
    replicate.handler({"Records": [stream_record(post_item("a", 5, 4), "200")]}, None)
    replicate.handler({"Records": [stream_record(post_item("a", 3, 3), "100")]}, None)
    assert reader(cloud)["a"]["totalViews"] == {"N": "5"}


def test_replicate_newest_image_per_article_in_batch(cloud: Cloud) -> None:
    batch = [
        stream_record(post_item("a", 2, 2, "old"), "1"),
        stream_record(post_item("a", 4, 3, "new"), "2"),
        stream_record(post_item("a", 3, 3, "mid"), "3"),
    ]
    replicate.handler({"Records": batch}, None)
    assert reader(cloud)["a"] == post_item("a", 4, 3, "new")


def test_replicate_bad_record_reported_by_sequence_number(cloud: Cloud) -> None:
    batch = [
        stream_record(post_item("a", 1, 1), "10"),
        stream_record({**post_item("b", 1, 1), "totalViews": {"S": "x"}}, "11"),
        stream_record(None, "12"),
        stream_record(post_item("c", 1, 1), "13"),
    ]
    response = replicate.handler({"Records": batch}, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}, {"itemIdentifier": "12"}]}
    assert set(reader(cloud)) == {"a", "c"}


def test_replicate_remove_is_ignored(cloud: Cloud) -> None:
    replicate.handler({"Records": [stream_record(post_item("a", 2, 1), "1")]}, None)
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
        stream_record(post_item("b", 1, 1), "1"),
        stream_record(post_item("a", 1, 1), "2"),
        stream_record(post_item("b", 2, 2), "3"),
    ]
    response = replicate.handler({"Records": batch}, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "1"}, {"itemIdentifier": "3"}]}
    assert set(reader(cloud)) == {"a"}
