"""Reading counts from DynamoDB (low-level client: typed attribute values in and out).

Replies read eventually consistent (half the read cost): counts are asynchronous
anyway, and a reply says what was stored when it was made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from handlers.attributes import Item, number, text
from handlers.schema import PageCounts, PostCounts

MAX_BATCH_GET = 100
"""DynamoDB's limit of keys in one BatchGetItem."""

Key = dict[str, dict[str, str]]


class Unprocessed(RuntimeError):
    """DynamoDB kept returning some keys unprocessed (sustained throttling)."""


def post_counts(item: Item, article_id: str, fallback_title: str = "") -> PostCounts:
    """fallback_title (the client's) only for a post not stored yet: a stored post shows
    its stored title, even none, never one a client just sent."""
    return PostCounts(
        articleId=article_id,
        articleTitle=text(item, "articleTitle") if item else fallback_title,
        totalViews=number(item, "totalViews"),
        uniqueViews=number(item, "uniqueViews"),
    )


def page_counts(item: Item, page: str) -> PageCounts:
    return PageCounts(page=page, totalViews=number(item, "totalViews"), uniqueViews=number(item, "uniqueViews"))


def get_post(ddb: Any, table: str, article_id: str, fallback_title: str = "", consistent: bool = False) -> PostCounts:
    item = ddb.get_item(TableName=table, Key={"articleId": {"S": article_id}}, ConsistentRead=consistent).get(
        "Item", {}
    )
    return post_counts(item, article_id, fallback_title)


def get_page(ddb: Any, table: str, page: str, consistent: bool = False) -> PageCounts:
    item = ddb.get_item(TableName=table, Key={"pageName": {"S": page}}, ConsistentRead=consistent).get("Item", {})
    return page_counts(item, page)


def batch_get(ddb: Any, keys: Mapping[str, Sequence[Key]], max_calls: int) -> dict[str, list[Item]]:
    """The items at `keys` (table -> keys, each key once) of several tables, by key only.

    At most MAX_BATCH_GET keys a request; keys DynamoDB leaves unprocessed (throttling)
    are asked again while calls remain. `max_calls` bounds the requests, so the caller's
    worst case (each call's timeouts and retries) fits its Lambda timeout: past it,
    Unprocessed, and the client is told `unavailable` rather than left waiting.
    """
    found: dict[str, list[Item]] = {table: [] for table in keys}
    pending = [(table, key) for table, table_keys in keys.items() for key in table_keys]
    calls = 0
    while pending:
        unprocessed: list[tuple[str, Key]] = []
        for start in range(0, len(pending), MAX_BATCH_GET):
            if calls == max_calls:
                raise Unprocessed(f"{len(pending) - start + len(unprocessed)} keys left after {calls} requests")
            request: dict[str, dict[str, list[Key]]] = {}
            for table, key in pending[start : start + MAX_BATCH_GET]:
                request.setdefault(table, {"Keys": []})["Keys"].append(key)
            response = ddb.batch_get_item(RequestItems=request)
            calls += 1
            for table, items in response.get("Responses", {}).items():
                found.setdefault(table, []).extend(items)
            for table, left in response.get("UnprocessedKeys", {}).items():
                unprocessed += [(table, key) for key in left.get("Keys", [])]
        pending = unprocessed
    return found


def post_key(article_id: str) -> Key:
    return {"articleId": {"S": article_id}}


def page_key(page: str) -> Key:
    return {"pageName": {"S": page}}


def posts_in_order(items: Iterable[Item], article_ids: Iterable[str]) -> list[PostCounts]:
    """Pure: counts for the ids in their order; unknown ones as zero."""
    by_id = {text(item, "articleId"): item for item in items}
    return [post_counts(by_id.get(a, {}), a) for a in article_ids]


def pages_by_name(items: Iterable[Item], pages: Iterable[str]) -> list[PageCounts]:
    """Pure: counts for the named pages (zero if never viewed), sorted by name."""
    by_name = {text(item, "pageName"): item for item in items}
    return [page_counts(by_name.get(p, {}), p) for p in sorted(set(pages))]
