"""AWS's batch envelopes (SQS records, DynamoDB stream records) and the partial-failure reply."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from pydantic import ValidationError

from handlers.schema import ViewEvent


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


def batch_response(failed_ids: Iterable[str]) -> BatchResponse:
    """Failed items, once each, in first-seen order: Lambda retries exactly these."""
    return {"batchItemFailures": [{"itemIdentifier": i} for i in dict.fromkeys(failed_ids)]}


@dataclass(frozen=True)
class Delivered:
    """A view event and the SQS message that carried it."""

    message_id: str
    event: ViewEvent


@dataclass(frozen=True)
class SqsBatch:
    events: list[Delivered]
    rejected: list[str]
    """messageIds whose body is not a ViewEvent: reported, so they end in the DLQ."""


def parse_sqs_batch(event: Mapping[str, Any]) -> SqsBatch:
    """Pure: an SQS event (SNS raw delivery, so the body is our JSON) -> typed events."""
    events: list[Delivered] = []
    rejected: list[str] = []
    for record in event.get("Records", []):
        message_id = str(record.get("messageId", ""))
        try:
            events.append(Delivered(message_id, ViewEvent.model_validate_json(record.get("body", ""))))
        except ValidationError:
            rejected.append(message_id)
    return SqsBatch(events, rejected)
