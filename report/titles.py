"""`python -m report set-title ARTICLE_ID "Title"`: the owner renames a post on purpose.

The one command of the report that writes. Views never rename a post (the counters keep
the first title stored), so this is the only way a title changes. A title lives in three
places, and replicate copies the writer to the other two only when a post's totalViews
grows, so each is written here, in an order that concurrent replicate writes cannot undo:

1. the writer (PostCountWriter): `SET articleTitle`, only if the post exists. Every image
   the stream carries from now on has the new title; the ones already in flight have the
   old title and at most the writer's total T at this moment (returned by the update).
2. the reader (PostCountReader): the writer's image, put only while the reader holds at
   most T views. Afterwards it holds T or more, so replicate's `totalViews < :total` refuses
   every in-flight image (each has at most T); if the Put is refused the reader already
   holds an image newer than step 1, which has the new title.
3. the top posts (TopPosts): the post's entry replaced by that image when it holds at most
   T views, with the version-conditioned Put replicate uses; merges of in-flight images
   (at most T, and the top replaces only on more views) then change nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import TypeAdapter, ValidationError

from handlers import aws, top_posts
from handlers.replicate import COPIED
from handlers.schema import ArticleId, Title, describe
from handlers.top_posts import Ranked
from handlers.wiring import POST_COUNT_READER, POST_COUNT_WRITER, TOP_POSTS
from report import store
from report.cli import EXIT_FAILED, Parser, UsageError, add_stack_arguments, aws_problem, fail
from report.settings import StackSettings, resolve

_ARTICLE_ID: TypeAdapter[str] = TypeAdapter(ArticleId)
_TITLE: TypeAdapter[str] = TypeAdapter(Title)


class NoSuchPost(LookupError):
    pass


def checked(article_id: str, title: str) -> tuple[str, str]:
    """The schema's own rules (handlers/schema.py), and a title must say something."""
    for name, adapter, value in (("ARTICLE_ID", _ARTICLE_ID, article_id), ("TITLE", _TITLE, title)):
        try:
            adapter.validate_python(value)
        except ValidationError as exc:
            raise UsageError(describe({**exc.errors(include_url=False)[0], "loc": (name,)})) from None
    if not title.strip():
        raise UsageError("TITLE: must not be empty")
    return article_id, title


def retitled(posts: Sequence[Ranked], image: Ranked) -> tuple[Ranked, ...]:
    """Pure: the top with the post's entry replaced by `image` unless it holds more views."""
    kept = [p for p in posts if not (p.article_id == image.article_id and p.total <= image.total)]
    return top_posts.merge(kept, [image])


@dataclass(frozen=True)
class Outcome:
    reader_written: bool
    """False: the reader already held a newer image (which carries the new title)."""
    in_top: bool


def set_title(ddb: Any, settings: StackSettings, article_id: str, title: str) -> Outcome:
    try:
        image = ddb.update_item(
            TableName=settings.table(POST_COUNT_WRITER),
            Key={"articleId": {"S": article_id}},
            UpdateExpression="SET articleTitle = :t",
            ConditionExpression="attribute_exists(articleId)",
            ExpressionAttributeValues={":t": {"S": title}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as exc:
        if aws.condition_failed(exc):
            raise NoSuchPost(article_id) from None
        raise
    item = {k: image[k] for k in COPIED if k in image}
    try:
        ddb.put_item(
            TableName=settings.table(POST_COUNT_READER),
            Item=item,
            ConditionExpression="attribute_not_exists(articleId) OR totalViews <= :total",
            ExpressionAttributeValues={":total": item["totalViews"]},
        )
        reader_written = True
    except ClientError as exc:
        if not aws.condition_failed(exc):
            raise
        reader_written = False
    ranked = top_posts.ranked(item)
    table = settings.table(TOP_POSTS)
    for _ in range(top_posts.WRITE_ATTEMPTS):
        current = top_posts.read_top(ddb, table)
        posts = retitled(current.posts, ranked)
        in_top = any(p.article_id == article_id for p in posts)
        if posts == current.posts or top_posts.put_top(
            ddb, table, top_posts.Top(current.version + 1, posts), current.version
        ):
            return Outcome(reader_written, in_top)
    raise top_posts.TopContended(f"{table}: {top_posts.WRITE_ATTEMPTS} conflicting writes")


def parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m report set-title",
        description="Change a post's stored title (writer, reader and top posts). The one report command that writes.",
    )
    parser.add_argument("article_id", metavar="ARTICLE_ID")
    parser.add_argument("title", metavar="TITLE")
    add_stack_arguments(parser)
    return parser


def run_set_title(argv: Sequence[str], out: TextIO, err: TextIO, today: date, root: Path) -> int:
    args = parser().parse_args(argv)
    article_id, title = checked(args.article_id, args.title)
    settings = resolve(args.stack, args.endpoint_url, root)
    try:
        outcome = set_title(store.client(settings), settings, article_id, title)
    except NoSuchPost:
        return fail(err, f"no post {article_id!r} in stack {settings.stack}: nothing changed", EXIT_FAILED)
    except (BotoCoreError, ClientError, top_posts.TopContended) as exc:
        if isinstance(exc, top_posts.TopContended):
            problem = "the top posts kept changing; run the command again (it is safe to repeat)"
        else:
            problem = aws_problem(exc, settings)
        return fail(err, problem, EXIT_FAILED)
    where = "writer, reader" + (" and top posts" if outcome.in_top else "")
    out.write(f"{article_id}: title set to {title!r} in stack {settings.stack} ({where})\n")
    return 0
