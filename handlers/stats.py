"""stats: counts for listed articles, or the top posts; every page of the rules. Never writes.

Every read is by key, in one BatchGetItem (two past 100 keys): the listed articles
(each once, at most 100) or the one top-posts item, and the pages the stack's page
rules name. Nothing is scanned, so a request costs the same with ten posts or a million.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers import aws, top_posts
from handlers.api import ClientMistake, WebSocketResponse, parse_request, respond
from handlers.log import log
from handlers.schema import ErrorReply, PostCounts, StatsMessage, StatsReply, parse_message, reply_response
from handlers.settings import Settings, load_settings
from handlers.store import Key, Unprocessed, batch_get, page_key, pages_by_name, post_key, posts_in_order
from handlers.wiring import HOME_AND_PROFILE, POST_COUNT_READER, TOP_POSTS

MAX_CALLS = 2
"""BatchGetItem requests per reply: 100 ids and 20 pages take two, and the function's
timeout is sized for this many (wiring's reply_calls); unprocessed keys are asked again
only while calls remain, then the reply is `unavailable`."""


def top_counts(top: top_posts.Top) -> list[PostCounts]:
    return [
        PostCounts(articleId=p.article_id, articleTitle=p.title, totalViews=p.total, uniqueViews=p.unique)
        for p in top.posts
    ]


def read_stats(ddb: Any, settings: Settings, message: StatsMessage) -> StatsReply:
    reader, pages_table, top = (settings.table(t) for t in (POST_COUNT_READER, HOME_AND_PROFILE, TOP_POSTS))
    pages = list(dict.fromkeys(rule.page for rule in settings.page_rules))
    keys: dict[str, list[Key]] = {pages_table: [page_key(p) for p in pages]}
    # None asks for the top posts; [] for no article at all.
    article_ids = None if message.articleIds is None else list(dict.fromkeys(message.articleIds))
    if article_ids is None:
        keys[top] = [top_posts.KEY]
    elif article_ids:
        keys[reader] = [post_key(a) for a in article_ids]
    items = batch_get(ddb, keys, MAX_CALLS)
    if article_ids is None:
        articles = top_counts(top_posts.decode(next(iter(items[top]), {})))
    else:
        articles = posts_in_order(items.get(reader, []), article_ids)
    return StatsReply(articles=articles, pages=pages_by_name(items[pages_table], pages))


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
