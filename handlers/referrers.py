"""Referrer counter: views per (external referrer's origin, viewed target), from the referrer queue.

Only views that carry an external referrer reach this queue (the subscription
filters on `has_referrer`). Rows are aggregates, never hits: no time, no connection.
"""

from __future__ import annotations

from typing import Any

from handlers import aws
from handlers.batch import BatchResponse, batch_response
from handlers.ledger import Increment, Tables, count_exactly_once
from handlers.origins import origin_of
from handlers.settings import load_settings
from handlers.sqs import Delivered, parse_sqs_batch
from handlers.wiring import COUNTED_EVENTS, REFERRER

PURPOSE = "referrer"


def referrer_increment(delivery: Delivered) -> Increment | None:
    """Pure: the (referrer origin, target) key and one view, or None without a referrer.

    The views function publishes the origin already; reducing it again here means a
    message published before referrers were origins (or redriven from the DLQ) is
    counted by origin too, and can never carry a key too large for DynamoDB.
    """
    event = delivery.event
    origin = origin_of(event.referrer) if event.referrer is not None else None
    if origin is None:
        return None
    return Increment({"referrer": {"S": origin}, "target": {"S": event.target}}, {"views": 1}, {})


def handler(event: dict[str, Any], context: object) -> BatchResponse:
    batch = parse_sqs_batch(event)
    settings = load_settings()
    tables = Tables(counts=settings.table(REFERRER), markers=settings.table(COUNTED_EVENTS))
    failed = count_exactly_once(aws.client("dynamodb"), tables, PURPOSE, batch.events, referrer_increment)
    return batch_response(batch.rejected + failed)
