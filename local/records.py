"""Pure: what the SQS and DynamoDB-stream APIs return -> the events Lambda delivers.

Lambda's event source mappings reshape the API's records (camelCase keys, the
source ARN, the region); the pollers do the same so the consumers see AWS's shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ReceiveMessage message as a Lambda SQS record."""
    attributes = message.get("Attributes") or {}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {
            "ApproximateReceiveCount": str(attributes.get("ApproximateReceiveCount", "1")),
            "SentTimestamp": str(attributes.get("SentTimestamp", "")),
            "SenderId": str(attributes.get("SenderId", "")),
            "ApproximateFirstReceiveTimestamp": str(attributes.get("ApproximateFirstReceiveTimestamp", "")),
        },
        "messageAttributes": {
            name: _lambda_message_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    # Lambda spells the SQS API's attribute fields in camelCase.
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": value.get("BinaryValue"),
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": list(value.get("BinaryListValues") or []),
        "dataType": value.get("DataType", "String"),
    }


def sqs_event(messages: Iterable[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [sqs_record(m, queue_arn, region) for m in messages]}


def failed_items(result: object, known: Sequence[str]) -> list[str] | None:
    """The ids a consumer reported as failed, in `known` order; None when the reply is unusable.

    Lambda treats an unreadable reply, or an id that is not in the batch, as a
    failure of the whole batch, and so does this.
    """
    if not isinstance(result, Mapping):
        return None
    failures = result.get("batchItemFailures", [])
    if failures is None:
        return []
    if not isinstance(failures, list):
        return None
    ids: set[str] = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(item, str) or item not in known:
            return None
        ids.add(item)
    return [k for k in known if k in ids]


def _epoch(value: object) -> object:
    # boto3 parses ApproximateCreationDateTime into a datetime; Lambda sends epoch seconds.
    return int(value.timestamp()) if isinstance(value, datetime) else value


def stream_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """One GetRecords record as a Lambda DynamoDB-stream record."""
    data = dict(record.get("dynamodb") or {})
    if "ApproximateCreationDateTime" in data:
        data["ApproximateCreationDateTime"] = _epoch(data["ApproximateCreationDateTime"])
    return {
        "eventID": record.get("eventID", ""),
        "eventName": record.get("eventName", ""),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion") or region,
        "dynamodb": data,
        "eventSourceARN": stream_arn,
    }


def stream_event(records: Iterable[Mapping[str, Any]], stream_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [stream_record(r, stream_arn, region) for r in records]}


def sequence_number(record: Mapping[str, Any]) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber", ""))


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ""


def stream_failure_record(
    records: Sequence[Mapping[str, Any]],
    shard_id: str,
    stream_arn: str,
    function_arn: str,
    invoke_count: int,
    request_id: str,
    now: datetime,
) -> dict[str, Any]:
    """What Lambda sends to a stream mapping's on-failure destination when it skips these
    records after its retries: their position and count, never the records themselves."""
    first, last = records[0].get("dynamodb") or {}, records[-1].get("dynamodb") or {}
    return {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": str(first.get("SequenceNumber", "")),
            "endSequenceNumber": str(last.get("SequenceNumber", "")),
            "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
            "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }
