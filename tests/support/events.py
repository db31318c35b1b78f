"""AWS event shapes (from the samples in tests/events) and the items the counters store."""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any, cast

EVENTS = Path(__file__).resolve().parent.parent / "events"


def sample(name: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((EVENTS / f"{name}.json").read_text()))


def now_ms() -> int:
    """Events are stamped now, as API Gateway does: the counters refuse views older than
    their markers can prove (handlers/ledger.py), so a fixed date would age out."""
    return time.time_ns() // 1_000_000


def ws_message(
    body: str | dict[str, Any], route: str = "views", message_id: str | None = None, received_at_ms: int | None = None
) -> dict[str, Any]:
    event = sample("ws_message")
    event["requestContext"]["routeKey"] = route
    event["requestContext"]["messageId"] = message_id or uuid.uuid4().hex[:16]
    event["requestContext"]["requestTimeEpoch"] = now_ms() if received_at_ms is None else received_at_ms
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def ws_connect(origin: str | None, header_name: str = "Origin") -> dict[str, Any]:
    event = sample("ws_connect")
    event["headers"].pop("Origin")
    event["multiValueHeaders"].pop("Origin")
    if origin is not None:
        event["headers"][header_name] = origin
        event["multiValueHeaders"][header_name] = [origin]
    return event


def sqs_record(body: str | dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    record = sample("sqs_record")
    record["messageId"] = message_id or str(uuid.uuid4())
    record["body"] = body if isinstance(body, str) else json.dumps(body)
    return record


def sqs_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}


def stream_record(image: dict[str, Any] | None, sequence_number: str, event_name: str = "MODIFY") -> dict[str, Any]:
    """A writer-stream record as Lambda receives it (the local poller rewrites its source ARN)."""
    record = copy.deepcopy(sample("stream_record"))
    record["eventName"] = event_name
    record["dynamodb"]["SequenceNumber"] = sequence_number
    if image is None:
        record["dynamodb"].pop("NewImage")
    else:
        record["dynamodb"]["NewImage"] = image
        record["dynamodb"]["Keys"] = {"articleId": image.get("articleId", {"S": ""})}
    return record


def post_item(article_id: str, total: int, unique: int | None = None, title: str = "T") -> dict[str, Any]:
    """A post's counts as the writer and the reader store them (and its stream image);
    unique views default to the total."""
    return {
        "articleId": {"S": article_id},
        "articleTitle": {"S": title},
        "totalViews": {"N": str(total)},
        "uniqueViews": {"N": str(total if unique is None else unique)},
    }


def view_event(event_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A published ViewEvent body; a post view of `hello-world` unless told otherwise."""
    event: dict[str, Any] = {
        "eventId": event_id or uuid.uuid4().hex,
        "eventType": "post_view",
        "receivedAt": now_ms(),
        "unique": True,
        "articleId": "hello-world",
        "articleTitle": "Hello World",
    }
    event.update(fields)
    return {k: v for k, v in event.items() if v is not None}
