"""The top posts: one bounded item, kept equal to the most viewed posts of the reader.

`stats` without ids answers the TOP_SIZE most viewed posts. Finding them in the reader
takes a Scan whose cost grows with the number of posts (5,000 posts: 6.8 MB, about 835
read units a request; a million cannot finish), so replicate keeps them in one item as it
copies counts into the reader, and `stats` reads that item by key.

Why it stays exact under the stream's at-least-once, unordered delivery: every writer
update adds at least one total view, so a post's totalViews orders its images. The item
holds, for each post in it, the image with the most total views, and only the TOP_SIZE
best ranked (most total views, then articleId). Merging is a join: merging an image
twice, or an older one after a newer, changes nothing; a post pushed out can only come
back with more views than it had, because the lowest rank in the item never falls. So
after any replay or reordering the item is the top of the images the reader holds
(replicate merges only the images whose reader copy succeeded).

Concurrency: one replicate invocation per stream shard may run at once. Each write is a
Put conditioned on the version it read (optimistic concurrency), retried from a fresh
consistent read on conflict. A batch that changes nothing in the top writes nothing.

Where it lives: its own table, `<stack>-TopPosts` (key `listId`), not a special key in
PostCountReader. The reader stays one item per post, the same shape as the writer, so
whatever scans it (the owner's report, `aws dynamodb scan`, the checks that the reader
equals the writer) sees only posts and never has to know a key to skip; and the grants
stay apart (stats reads this item, only replicate writes it).

Existing deployments: a post counted before this item existed enters it at its next view
(the image carries the full count). To fill it at once, an operator runs, with
credentials that may scan the reader and read and write this table:

    python -m handlers.top_posts --stack prod [--endpoint-url URL]

It scans the reader once (off the request path) and merges its top into the item with
the same conditional write, so it is idempotent and safe while the stack runs. A post
deleted from the reader by hand stays in the item until the item is deleted
(`listId = totalViews`) and the command run again.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import boto3
from botocore.exceptions import ClientError

from handlers.attributes import Item, number, text
from handlers.wiring import POST_COUNT_READER, TOP_POSTS, physical_table_name

TOP_SIZE = 10
"""Posts the item holds and `stats` answers without ids."""
LIST_ID = "totalViews"
KEY: dict[str, dict[str, str]] = {"listId": {"S": LIST_ID}}
WRITE_ATTEMPTS = 5


class TopContended(RuntimeError):
    """The conditional write kept losing to concurrent writers."""


class Ranked(NamedTuple):
    """A post as the item holds it: one image of the reader."""

    article_id: str
    title: str
    total: int
    unique: int

    @property
    def rank(self) -> tuple[int, str]:
        """Most total views first; ties by id, so the order is total and stable."""
        return -self.total, self.article_id


class Top(NamedTuple):
    version: int
    posts: tuple[Ranked, ...]


def ranked(item: Item) -> Ranked:
    """A reader item (or a stream image of the writer) as a ranked post."""
    return Ranked(
        text(item, "articleId"), text(item, "articleTitle"), number(item, "totalViews"), number(item, "uniqueViews")
    )


def merge(posts: Iterable[Ranked], candidates: Iterable[Ranked], limit: int = TOP_SIZE) -> tuple[Ranked, ...]:
    """Pure: per post the image with the most total views, then the `limit` best ranked."""
    best = {post.article_id: post for post in posts}
    for candidate in candidates:
        held = best.get(candidate.article_id)
        if held is None or candidate.total > held.total:
            best[candidate.article_id] = candidate
    return tuple(sorted(best.values(), key=lambda post: post.rank)[:limit])


def decode(item: Item) -> Top:
    entries = item.get("posts", {}).get("L", [])
    return Top(number(item, "version"), tuple(ranked(entry.get("M", {})) for entry in entries))


def encode(top: Top) -> dict[str, Any]:
    posts = [
        {
            "M": {
                "articleId": {"S": p.article_id},
                "articleTitle": {"S": p.title},
                "totalViews": {"N": str(p.total)},
                "uniqueViews": {"N": str(p.unique)},
            }
        }
        for p in top.posts
    ]
    return {**KEY, "version": {"N": str(top.version)}, "posts": {"L": posts}}


# ---- the edge ------------------------------------------------------------------------


def read_top(ddb: Any, table: str) -> Top:
    """Strongly consistent: the version read is the one the write is conditioned on."""
    return decode(ddb.get_item(TableName=table, Key=KEY, ConsistentRead=True).get("Item", {}))


def put_top(ddb: Any, table: str, top: Top, read_version: int) -> bool:
    """Write `top` unless another writer changed the item since `read_version`; False then."""
    condition = "attribute_not_exists(#version)" if read_version == 0 else "#version = :read"
    values = {} if read_version == 0 else {"ExpressionAttributeValues": {":read": {"N": str(read_version)}}}
    try:
        ddb.put_item(
            TableName=table,
            Item=encode(top),
            ConditionExpression=condition,
            ExpressionAttributeNames={"#version": "version"},
            **values,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return False
    return True


def merge_into_top(ddb: Any, table: str, candidates: Sequence[Ranked], attempts: int = WRITE_ATTEMPTS) -> bool:
    """Merge candidates into the stored item; True when it was written, TopContended if it never could be."""
    for _ in range(attempts):
        current = read_top(ddb, table)
        merged = merge(current.posts, candidates)
        if merged == current.posts:
            return False
        if put_top(ddb, table, Top(current.version + 1, merged), current.version):
            return True
    raise TopContended(f"{table}: {attempts} conflicting writes")


# ---- the operator's one-off rebuild (never on a request path) ------------------------


def scan(ddb: Any, table: str, **options: Any) -> Iterator[Item]:
    """Every item of a table, page by page (`options`: e.g. ConsistentRead)."""
    kwargs: dict[str, Any] = {"TableName": table, **options}
    while True:
        response = ddb.scan(**kwargs)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def rebuild(ddb: Any, reader_table: str, top_table: str) -> Top:
    """Merge the reader's top into the item; what the item holds afterwards."""
    # The reader holds one item per post, so its top is the best ranked items.
    best = heapq.nsmallest(TOP_SIZE, (ranked(item) for item in scan(ddb, reader_table)), key=lambda p: p.rank)
    merge_into_top(ddb, top_table, best)
    return read_top(ddb, top_table)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse  # noqa: PLC0415 - the operator's command only: replicate's and stats' cold starts skip it

    parser = argparse.ArgumentParser(
        prog="python -m handlers.top_posts",
        description="Fill a stack's top-posts item from its reader table (safe while the stack runs).",
    )
    parser.add_argument("--stack", required=True, help="stack name, e.g. prod (tables are <stack>-<Name>)")
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint, e.g. the local stack's aws= URL")
    args = parser.parse_args(argv)
    ddb = boto3.client("dynamodb", endpoint_url=args.endpoint_url)
    top = rebuild(ddb, physical_table_name(args.stack, POST_COUNT_READER), physical_table_name(args.stack, TOP_POSTS))
    for post in top.posts:
        print(f"{post.total:>10} {post.unique:>10}  {post.article_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
