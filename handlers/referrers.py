"""Referrer counter: views per (external referrer, viewed target), from the referrer queue.

Only views that carry an external referrer reach this queue (the subscription
filters on `has_referrer`). Rows are aggregates, never hits: no time, no connection.
"""

from __future__ import annotations

from typing import Any

from handlers import aws
from handlers.batch import BatchResponse, batch_response
from handlers.ledger import Tables, count_exactly_once
from handlers.settings import load_settings
from handlers.sqs import Delivered, parse_sqs_batch
from handlers.wiring import COUNTED_EVENTS, REFERRER

PURPOSE = "referrer"


def referrer_increment(
    delivery: Delivered,
) -> tuple[dict[str, dict[str, str]], dict[str, int], dict[str, str]] | None:
    """Pure: the (referrer, target) key and one view, or None without a referrer."""
    event = delivery.event
    if event.referrer is None:
        return None
    return {"referrer": {"S": event.referrer}, "target": {"S": event.target}}, {"views": 1}, {}


def handler(event: dict[str, Any], context: object) -> BatchResponse:
    batch = parse_sqs_batch(event)
    settings = load_settings()
    tables = Tables(counts=settings.table(REFERRER), markers=settings.table(COUNTED_EVENTS))
    failed = count_exactly_once(aws.client("dynamodb"), tables, PURPOSE, batch.events, referrer_increment)
    return batch_response(batch.rejected + failed)
