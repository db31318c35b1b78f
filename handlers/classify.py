"""Pure decisions of the views route: what was viewed, and which referrer to count."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from handlers.pages import PageRule, classify_page
from handlers.schema import MAX_URL, ViewEvent, ViewMessage
from handlers.wiring import EventType

DEFAULT_PORTS = {"http": 80, "https": 443}


class ReferrerError(ValueError):
    """The referrer is not an http(s) URL we can reduce."""


class UnknownPage(LookupError):
    """No page rule matches and there is no articleId."""


@dataclass(frozen=True)
class Target:
    event_type: EventType
    article_id: str | None = None
    page: str | None = None


def _origin(parts: SplitResult) -> str:
    host = parts.hostname or ""
    port = parts.port  # raises ValueError for a port out of range
    netloc = host if port in (None, DEFAULT_PORTS.get(parts.scheme)) else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}"


def reduce_referrer(raw: str) -> tuple[str, str]:
    """A referrer reduced to (origin, scheme://host[:port]/path).

    Query, fragment and userinfo are dropped (they are where tokens and e-mail
    addresses live); scheme and host are lower-cased; a default port is dropped.
    """
    try:
        parts = urlsplit(raw.strip())
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ReferrerError("must be an http(s) URL with a host")
        origin = _origin(parts._replace(scheme=scheme))
    except ValueError as exc:
        raise ReferrerError(str(exc) if isinstance(exc, ReferrerError) else "not a valid URL") from None
    path = parts.path or "/"
    return origin, (origin + path)[:MAX_URL]


def external_referrer(raw: str | None, own_origins: Collection[str]) -> str | None:
    """The reduced referrer if it is external, else None. Raises ReferrerError."""
    if raw is None or not raw.strip():
        return None
    origin, reduced = reduce_referrer(raw)
    return None if origin in own_origins else reduced


def classify(message: ViewMessage, rules: tuple[PageRule, ...]) -> Target:
    """A view with an articleId is a post view; otherwise the page rules decide."""
    if message.articleId is not None:
        return Target("post_view", article_id=message.articleId)
    rule = classify_page(message.currentPage or "/", rules)
    if rule is None:
        raise UnknownPage(message.currentPage or "/")
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
