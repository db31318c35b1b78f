"""stats: counts for listed articles, or the top posts; every page. Never writes."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers import aws
from handlers.api import ClientMistake, WebSocketResponse, parse_request, respond
from handlers.log import log
from handlers.schema import ErrorReply, StatsMessage, StatsReply, parse_message, reply_response
from handlers.settings import Settings, load_settings
from handlers.store import Unprocessed, batch_get_posts, scan_pages, scan_posts, top_posts
from handlers.wiring import HOME_AND_PROFILE, POST_COUNT_READER


def read_stats(ddb: Any, settings: Settings, message: StatsMessage) -> StatsReply:
    reader = settings.table(POST_COUNT_READER)
    if message.articleIds:
        articles = batch_get_posts(ddb, reader, message.articleIds)
    else:
        articles = top_posts(scan_posts(ddb, reader))
    known_pages = [rule.page for rule in settings.page_rules]
    return StatsReply(articles=articles, pages=scan_pages(ddb, settings.table(HOME_AND_PROFILE), known_pages))


def handler(event: dict[str, Any], context: object) -> WebSocketResponse:
    try:
        message = parse_message(StatsMessage, parse_request(event).body)
    except ClientMistake as mistake:
        return respond(mistake.body)
    try:
        return reply_response(read_stats(aws.client("dynamodb"), load_settings(), message))
    except (ClientError, BotoCoreError, Unprocessed) as exc:
        log("error", "stats_unavailable", error=type(exc).__name__)
        return reply_response(ErrorReply(error="unavailable", detail="try again shortly"))
