"""watch: follow up to 50 posts and pages live, without counting a view.

The list replaces the connection's previous one (an empty list stops watching) and adds
nothing to any readingNow. The optional `reading` names the connection's own target, as its
last view did: a reopened socket (the page was hidden, or the gateway closed it idle) is
counted in that target's readingNow again without counting a view or spending the
connection's views budget. The reply carries each target's stored counts and the
readingNow the fan-out last pushed for it, read by key in one BatchGetItem beside the
one UpdateItem that stores the list (handlers/connections.py).
With live counts off (liveIntervalSeconds 0) nothing is followed or pushed: the reply is the
counts alone, with no `readingNow`, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers import aws, connections
from handlers.api import ClientMistake, WebSocketRequest, WebSocketResponse, parse_request, respond
from handlers.attributes import Item, number, text
from handlers.log import log
from handlers.schema import (
    ErrorReply,
    LivePageCounts,
    LivePostCounts,
    WatchMessage,
    WatchReply,
    parse_message,
    reply_response,
)
from handlers.settings import Settings, load_settings
from handlers.store import Key, Unprocessed, batch_get, page_key, pages_by_name, post_key, posts_in_order
from handlers.wiring import CONNECTIONS, HOME_AND_PROFILE, POST_COUNT_READER

MAX_CALLS = 2
"""BatchGetItem requests per reply (50 targets and their readingNow are 100 keys, one
request; the second only asks again for unprocessed keys). wiring's reply_calls."""


def accept_watch(body: str, settings: Settings) -> WatchMessage:
    """Pure: the frame -> the watch list, or ClientMistake (invalid_event for pages the blog has not)."""
    message = parse_message(WatchMessage, body)
    known = {rule.page for rule in settings.page_rules}
    for index, page in enumerate(message.pages):
        if page not in known:
            raise ClientMistake("invalid_event", f"pages.{index}: not a page of this blog")
    if message.reading is not None and message.reading.page is not None and message.reading.page not in known:
        raise ClientMistake("invalid_event", "reading.page: not a page of this blog")
    return message


def reading_now(items: list[Item], now: float) -> dict[str, int]:
    """Pure: target -> the readingNow its item holds; an expired item (TTL deletes late)
    holds none. Items from before they expired have no expiresAt and still count."""
    return {
        text(item, "pk"): number(item, "readingNow")
        for item in items
        if connections.TTL_ATTRIBUTE not in item or connections.is_live(item, now)
    }


def read_watched(ddb: Any, settings: Settings, message: WatchMessage) -> WatchReply:
    """The targets' stored counts, and with live counts on the readingNow last pushed."""
    reader, pages_table, live = (settings.table(t) for t in (POST_COUNT_READER, HOME_AND_PROFILE, CONNECTIONS))
    article_ids = list(dict.fromkeys(message.articleIds))
    pages = list(dict.fromkeys(message.pages))
    keys: dict[str, list[Key]] = {
        reader: [post_key(a) for a in article_ids],
        pages_table: [page_key(p) for p in pages],
        live: [connections.reading_now_key(t) for t in message.targets] if settings.live_counts else [],
    }
    items = batch_get(ddb, {table: k for table, k in keys.items() if k}, MAX_CALLS)
    now_reading = reading_now(items.get(live, []), connections.now())

    def readers(target: str) -> int | None:
        return now_reading.get(target, 0) if settings.live_counts else None

    articles = [
        LivePostCounts(**post.model_dump(), readingNow=readers(f"post:{post.articleId}"))
        for post in posts_in_order(items.get(reader, []), article_ids)
    ]
    by_page = {p.page: p for p in pages_by_name(items.get(pages_table, []), pages)}
    page_counts = [LivePageCounts(**by_page[p].model_dump(), readingNow=readers(f"page:{p}")) for p in pages]
    return WatchReply(articles=articles, pages=page_counts)


def watch(ddb: Any, settings: Settings, request: WebSocketRequest, message: WatchMessage) -> WatchReply:
    if not settings.live_counts:
        return read_watched(ddb, settings, message)
    now = connections.now()
    expiry = connections.expires_at(request.connected_at_ms, now)
    table = settings.table(CONNECTIONS)
    reading = message.reading.target if message.reading is not None else None
    calls: list[Callable[[], object]] = [
        lambda: read_watched(ddb, settings, message),
        lambda: connections.set_watching(ddb, table, request.connection_id, message.targets, expiry, reading),
    ]
    if reading is not None:
        calls.append(lambda: connections.add_reader(ddb, table, reading, request.connection_id, expiry))
        # The `n` item holds what the fan-out last pushed, without this connection: its own
        # target gets an exact count, as a views reply does (one more Query, side by side).
        calls.append(lambda: connections.readers_besides(ddb, table, reading, request.connection_id, now))
    reply, *rest = aws.concurrently(*calls)
    assert isinstance(reply, WatchReply)
    if reading is None:
        return reply
    others = rest[-1]
    assert isinstance(others, int)
    return with_own_reader(reply, reading, others + 1)


def with_own_reader(reply: WatchReply, target: str, reading_now: int) -> WatchReply:
    """Pure: the reply with `target`'s readingNow replaced by the exact count."""
    articles = [
        a.model_copy(update={"readingNow": reading_now}) if f"post:{a.articleId}" == target else a
        for a in reply.articles
    ]
    pages = [p.model_copy(update={"readingNow": reading_now}) if f"page:{p.page}" == target else p for p in reply.pages]
    return reply.model_copy(update={"articles": articles, "pages": pages})


def handler(event: dict[str, Any], context: object) -> WebSocketResponse:
    settings = load_settings()
    try:
        request = parse_request(event)
        message = accept_watch(request.body, settings)
    except ClientMistake as mistake:
        return respond(mistake.body)
    try:
        return reply_response(watch(aws.client("dynamodb"), settings, request, message))
    except (ClientError, BotoCoreError, Unprocessed) as exc:
        log("error", "watch_unavailable", error=type(exc).__name__)
        return reply_response(ErrorReply(error="unavailable", detail="try again shortly"))
