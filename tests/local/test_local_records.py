"""Pure reshaping of SQS and stream API records into Lambda events, and batch replies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from local.records import failed_items, sequence_number, sqs_event, stream_event

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:local-post_view"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/local-PostCountWriter/stream/2026-11-28T00:00:00.000"

MESSAGE = {
    "MessageId": "m-1",
    "ReceiptHandle": "rh-1",
    "MD5OfBody": "abc",
    "Body": '{"eventId":"e"}',
    "Attributes": {
        "ApproximateReceiveCount": "2",
        "SentTimestamp": "1795824000000",
        "SenderId": "AIDA",
        "ApproximateFirstReceiveTimestamp": "1795824000100",
    },
    "MessageAttributes": {"event_type": {"DataType": "String", "StringValue": "post_view"}},
}


def test_sqs_event_has_lambdas_record_shape() -> None:
    (record,) = sqs_event([MESSAGE], QUEUE_ARN, "us-east-1")["Records"]
    assert record["messageId"] == "m-1" and record["receiptHandle"] == "rh-1"
    assert record["body"] == '{"eventId":"e"}' and record["md5OfBody"] == "abc"
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert record["attributes"]["SentTimestamp"] == "1795824000000"
    assert record["messageAttributes"]["event_type"]["stringValue"] == "post_view"
    assert record["messageAttributes"]["event_type"]["dataType"] == "String"
    assert (record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == (
        "aws:sqs",
        QUEUE_ARN,
        "us-east-1",
    )


def test_sqs_event_keeps_order() -> None:
    messages = [{**MESSAGE, "MessageId": f"m-{i}"} for i in range(5)]
    assert [r["messageId"] for r in sqs_event(messages, QUEUE_ARN, "us-east-1")["Records"]] == [
        f"m-{i}" for i in range(5)
    ]


@pytest.mark.parametrize(
    ("result", "failed"),
    [
        ({"batchItemFailures": []}, []),
        ({"batchItemFailures": None}, []),
        ({}, []),
        ({"batchItemFailures": [{"itemIdentifier": "c"}, {"itemIdentifier": "a"}]}, ["a", "c"]),
        ({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "a"}]}, ["a"]),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{}]}, None),
        ({"batchItemFailures": "a"}, None),
        (None, None),
        ("ok", None),
    ],
)
def test_failed_items(result: object, failed: list[str] | None) -> None:
    assert failed_items(result, ["a", "b", "c"]) == failed


def test_stream_event_has_lambdas_record_shape() -> None:
    record: dict[str, Any] = {
        "eventID": "1",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 11, 28, tzinfo=UTC),
            "Keys": {"articleId": {"S": "a"}},
            "NewImage": {"articleId": {"S": "a"}, "totalViews": {"N": "1"}},
            "SequenceNumber": "100",
            "SizeBytes": 20,
            "StreamViewType": "NEW_IMAGE",
        },
    }
    (out,) = stream_event([record], STREAM_ARN, "us-east-1")["Records"]
    assert out["eventSourceARN"] == STREAM_ARN and out["eventSource"] == "aws:dynamodb"
    assert out["eventName"] == "MODIFY" and out["eventVersion"] == "1.1"
    assert out["dynamodb"]["ApproximateCreationDateTime"] == 1795824000
    assert out["dynamodb"]["NewImage"] == record["dynamodb"]["NewImage"]
    assert sequence_number(out) == "100"
