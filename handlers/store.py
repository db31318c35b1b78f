"""Reading counts from DynamoDB (low-level client: typed attribute values in and out).

Replies read eventually consistent (half the read cost): counts are asynchronous
anyway, and a reply says what was stored when it was made.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from handlers.attributes import Item, number, text
from handlers.schema import PageCounts, PostCounts

MAX_BATCH_GET = 100
TOP_POSTS = 10


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


def get_post(ddb: Any, table: str, article_id: str, fallback_title: str = "") -> PostCounts:
    item = ddb.get_item(TableName=table, Key={"articleId": {"S": article_id}}).get("Item", {})
    return post_counts(item, article_id, fallback_title)


def get_page(ddb: Any, table: str, page: str) -> PageCounts:
    item = ddb.get_item(TableName=table, Key={"pageName": {"S": page}}).get("Item", {})
    return page_counts(item, page)


def batch_get_posts(ddb: Any, table: str, article_ids: Iterable[str]) -> list[PostCounts]:
    """Counts for the given ids in their order; unknown ones as zero."""
    wanted = list(dict.fromkeys(article_ids))
    found: dict[str, Item] = {}
    pending: list[dict[str, Any]] = [{"articleId": {"S": a}} for a in wanted]
    for _ in range(5):  # UnprocessedKeys come back under throttling; bounded retries
        if not pending:
            break
        response = ddb.batch_get_item(RequestItems={table: {"Keys": pending}})
        for item in response.get("Responses", {}).get(table, []):
            found[text(item, "articleId")] = item
        pending = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    if pending:
        raise Unprocessed(f"{len(pending)} keys left unprocessed")
    return [post_counts(found.get(a, {}), a) for a in wanted]


def scan_all(ddb: Any, table: str) -> Iterator[Item]:
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        response = ddb.scan(**kwargs)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def top_posts(posts: Iterable[PostCounts], limit: int = TOP_POSTS) -> list[PostCounts]:
    """Pure: most viewed first; ties by id so the order is stable."""
    return sorted(posts, key=lambda p: (-p.totalViews, p.articleId))[:limit]


def scan_posts(ddb: Any, table: str) -> list[PostCounts]:
    return [post_counts(item, text(item, "articleId")) for item in scan_all(ddb, table)]


def scan_pages(ddb: Any, table: str, known: Iterable[str] = ()) -> list[PageCounts]:
    """Every stored page, and every known (configured) page with zero counts if never viewed."""
    pages = {page: PageCounts(page=page, totalViews=0, uniqueViews=0) for page in known}
    for item in scan_all(ddb, table):
        pages[text(item, "pageName")] = page_counts(item, text(item, "pageName"))
    return sorted(pages.values(), key=lambda p: p.page)
