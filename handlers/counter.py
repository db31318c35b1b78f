"""Counter for homepage_view, profile_view and post_view queues.

One module serves the three queue consumers: the event type decides the table and
key, and each function's role only admits its own table.
"""

from __future__ import annotations

from typing import Any

from handlers import aws
from handlers.batch import BatchResponse, batch_response
from handlers.ledger import Increment, Tables, count_exactly_once
from handlers.settings import Settings, load_settings
from handlers.sqs import Delivered, parse_sqs_batch
from handlers.wiring import COUNTED_EVENTS, HOME_AND_PROFILE, POST_COUNT_WRITER

PURPOSE = "views"


def view_increment(delivery: Delivered) -> Increment:
    """Pure: the key, counts and attributes one view adds (a reload adds no unique view)."""
    event = delivery.event
    adds = {"totalViews": 1, "uniqueViews": 1 if event.unique else 0}
    if event.articleId is not None:
        title = {"articleTitle": event.articleTitle} if event.articleTitle else {}
        if event.titleSigned:  # the blog signed it: it replaces whatever a stranger stored first
            return Increment({"articleId": {"S": event.articleId}}, adds, {}, title)
        return Increment({"articleId": {"S": event.articleId}}, adds, title)
    return Increment({"pageName": {"S": event.page or ""}}, adds, {})


def count_table(settings: Settings, post: bool) -> Tables:
    return Tables(
        counts=settings.table(POST_COUNT_WRITER if post else HOME_AND_PROFILE),
        markers=settings.table(COUNTED_EVENTS),
    )


def count_views(ddb: Any, settings: Settings, deliveries: list[Delivered]) -> list[str]:
    """Posts and pages live in different tables, so they commit apart."""
    posts = [d for d in deliveries if d.event.articleId is not None]
    pages = [d for d in deliveries if d.event.articleId is None]
    failed: list[str] = []
    for group, post in ((posts, True), (pages, False)):
        if group:
            failed += count_exactly_once(ddb, count_table(settings, post), PURPOSE, group, view_increment)
    return failed


def handler(event: dict[str, Any], context: object) -> BatchResponse:
    batch = parse_sqs_batch(event)
    failed = count_views(aws.client("dynamodb"), load_settings(), batch.events)
    return batch_response(batch.rejected + failed)
