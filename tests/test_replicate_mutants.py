"""replicate on malformed records (each rejected by its sequence number, never copied), on
a stale image (done, not failed) and on failed writes (logged for the operator). Kills
handlers/replicate.py survivors of the mutation run (tests/MUTATION.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.aws import Cloud
from support.events import post_item, stream_record
from support.faults import fail

from handlers import aws, replicate
from handlers.replicate import StreamBatch, parse_stream_batch
from handlers.wiring import POST_COUNT_READER, TOP_POSTS


def image(**counts: str) -> dict[str, dict[str, str]]:
    return {"articleId": {"S": "a-post"}, **{name: {"N": value} for name, value in counts.items()}}


def test_replicate_event_without_records_is_an_empty_batch() -> None:
    assert parse_stream_batch({}) == StreamBatch([], [])


def test_replicate_image_whose_unique_count_is_not_a_number_is_rejected() -> None:
    batch = parse_stream_batch({"Records": [stream_record(image(totalViews="3", uniqueViews="many"), "101")]})
    assert batch == StreamBatch([], ["101"])


def test_replicate_malformed_record_without_a_sequence_number_is_rejected_as_empty() -> None:
    assert parse_stream_batch({"Records": [{"dynamodb": {}}]}) == StreamBatch([], [""])


def logged(out: str, event: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, out.splitlines()) if line.get("event") == event]


def test_replicate_replayed_older_image_is_done_not_a_failure(cloud: Cloud) -> None:
    """The reader's refusal of an older image is success: reporting it would make the
    stream retry a record that can never be copied, then skip the rest of its batch."""
    newest, older = stream_record(post_item("a", 5, 4), "200"), stream_record(post_item("a", 3, 3), "100")
    for batch in ([newest], [older], [newest]):  # then an older image, then a replay
        assert replicate.handler({"Records": batch}, None) == {"batchItemFailures": []}
    assert cloud.item(POST_COUNT_READER, articleId="a") == post_item("a", 5, 4)


def test_replicate_failed_copy_is_logged_for_the_operator(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    fail(aws.client("dynamodb"), "PutItem", "ProvisionedThroughputExceededException")
    assert replicate.handler({"Records": [stream_record(post_item("a", 1, 1), "1")]}, None) == {
        "batchItemFailures": [{"itemIdentifier": "1"}]
    }
    [line] = logged(capsys.readouterr().out, "replicate_failed")
    assert (line["level"], line["error"]) == ("error", "ProvisionedThroughputExceededException")


def test_replicate_failed_top_write_is_logged_for_the_operator(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    fail(
        aws.client("dynamodb"),
        "PutItem",
        "ProvisionedThroughputExceededException",
        when=lambda params: params["TableName"] == cloud.table(TOP_POSTS),
    )
    assert replicate.handler({"Records": [stream_record(post_item("a", 1, 1), "1")]}, None) == {
        "batchItemFailures": [{"itemIdentifier": "1"}]
    }
    [line] = logged(capsys.readouterr().out, "top_posts_failed")
    assert (line["level"], line["error"]) == ("error", "ProvisionedThroughputExceededException")
