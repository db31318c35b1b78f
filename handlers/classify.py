"""Pure decisions of the views route: what was viewed, and which referrer to count."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from handlers.origins import origin_of
from handlers.pages import PageRule, classify_page
from handlers.schema import ViewEvent, ViewMessage
from handlers.wiring import EventType


class NoTarget(ValueError):
    """Neither an articleId nor a currentPage: nothing says what was viewed."""


class UnknownPage(LookupError):
    """No page rule matches and there is no articleId."""


@dataclass(frozen=True)
class Target:
    event_type: EventType
    article_id: str | None = None
    page: str | None = None


def external_referrer(raw: str | None, own_origins: Collection[str]) -> str | None:
    """The referrer to count: its origin, when it has one and it is not the blog's own.

    Only the origin is kept: paths can carry personal data (a search, a name, a
    token), and an origin is short ASCII, so any referrer fits a DynamoDB key. A
    referrer with no usable origin is simply not counted; the view still is.
    """
    origin = origin_of(raw) if raw is not None else None
    return None if origin is None or origin in own_origins else origin


def classify(message: ViewMessage, rules: tuple[PageRule, ...]) -> Target:
    """A view with an articleId is a post view; otherwise the page rules decide."""
    if message.articleId is not None:
        return Target("post_view", article_id=message.articleId)
    if message.currentPage is None or not message.currentPage.strip():
        raise NoTarget("currentPage: required without articleId")
    rule = classify_page(message.currentPage, rules)
    if rule is None:
        raise UnknownPage(message.currentPage)
    return Target(rule.event_type, page=rule.page)


def view_event(
    message: ViewMessage, target: Target, event_id: str, received_at_ms: int, referrer: str | None
) -> ViewEvent:
    """The event to publish. A missing `refreshed` counts as a unique view."""
    return ViewEvent(
        eventId=event_id,
        eventType=target.event_type,
        receivedAt=received_at_ms,
        unique=not message.refreshed,
        articleId=target.article_id,
        articleTitle=message.articleTitle if target.article_id is not None else None,
        page=target.page,
        referrer=referrer,
    )
