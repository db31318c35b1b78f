"""SQS records of SNS raw delivery, parsed apart from our payload (a ViewEvent)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from handlers.schema import ViewEvent


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
