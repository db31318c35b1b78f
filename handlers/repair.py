"""replicate-repair: bring the reader back to the writer where replicate gave up.

replicate's stream mapping retries a failing batch a bounded number of times, then
skips it, so without this the reader would keep an old count until that post got
another view. When it skips a batch, Lambda sends the batch's metadata, not its
records, to the mapping's on-failure queue (AWS Lambda developer guide, "Retaining
discarded records for a DynamoDB event source"):

    {"requestContext": {"condition": "RetryAttemptsExhausted", ...},
     "DDBStreamBatchInfo": {"shardId": "...", "startSequenceNumber": "...",
                            "endSequenceNumber": "...", "batchSize": 1, "streamArn": "...", ...}}

This function drains that queue. It reads the range back from the stream (GetShardIterator
AT_SEQUENCE_NUMBER, then GetRecords; a stream keeps records 24 hours), takes the posts
they touched, reads each writer item with a consistent read, and copies it with
replicate's conditional Put, which only ever raises a count, then merges them into the
top posts (handlers/top_posts.py) as replicate would have. Reading the writer's current
item rather than the skipped images is what makes it whole: whatever those images held,
the writer holds at least as much. When the range is no longer in the stream (a message
redriven from this queue's DLQ days later), it reconciles every post the same way.
Both paths are idempotent, so a redelivered failure message changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from handlers import aws, top_posts
from handlers.attributes import Item
from handlers.batch import BatchResponse, batch_response
from handlers.log import log
from handlers.replicate import COPIED, Image, copy_if_newer
from handlers.settings import load_settings
from handlers.top_posts import Ranked
from handlers.wiring import POST_COUNT_READER, POST_COUNT_WRITER, TOP_POSTS

MAX_PAGES = 50
"""GetRecords calls to reach the range's end before reconciling every post instead."""
GONE = ("TrimmedDataAccessException", "ResourceNotFoundException")


class FailedRange(NamedTuple):
    """DDBStreamBatchInfo: the records a stream mapping skipped, by position."""

    stream_arn: str
    shard_id: str
    start: int
    end: int


def parse_failure(body: str) -> FailedRange:
    """Pure: an on-failure message -> the skipped range; ValueError when it is not one."""
    try:
        info = json.loads(body)["DDBStreamBatchInfo"]
        failed = FailedRange(
            stream_arn=str(info["streamArn"]),
            shard_id=str(info["shardId"]),
            start=int(str(info["startSequenceNumber"])),
            end=int(str(info["endSequenceNumber"])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a DynamoDB stream on-failure record: {type(exc).__name__}") from None
    if not failed.stream_arn or not failed.shard_id or failed.start > failed.end:
        raise ValueError("not a DynamoDB stream on-failure record: empty or inverted range")
    return failed


def keys_in_range(records: Iterable[Mapping[str, Any]], failed: FailedRange) -> tuple[set[str], bool]:
    """Pure: the posts that records inside the range touched, and whether the range's end was reached."""
    keys: set[str] = set()
    for record in records:
        data = record["dynamodb"]
        sequence_number = int(data["SequenceNumber"])
        if sequence_number > failed.end:
            return keys, True
        if sequence_number >= failed.start:
            keys.add(str(data["Keys"]["articleId"]["S"]))
        if sequence_number == failed.end:
            return keys, True
    return keys, False


def read_range(streams: Any, failed: FailedRange) -> set[str] | None:
    """The posts the range touched, or None when the stream no longer holds all of it."""
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=failed.stream_arn,
            ShardId=failed.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=str(failed.start),
        )["ShardIterator"]
        keys: set[str] = set()
        for _ in range(MAX_PAGES):
            if iterator is None:
                return None  # the shard closed before the range's end: records are missing
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            found, done = keys_in_range(page.get("Records", []), failed)
            keys |= found
            if done:
                return keys
            iterator = page.get("NextShardIterator")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in GONE:
            return None
        raise
    except (KeyError, TypeError, ValueError):
        return None  # a record we cannot read: reconcile rather than guess
    return None


class Tables(NamedTuple):
    writer: str
    reader: str
    top: str


def copy_current(ddb: Any, reader: str, item: Item) -> Ranked | None:
    """Copy one writer item into the reader if it holds more views; None when there is nothing to copy."""
    if "totalViews" not in item:
        return None
    article_id = str(item["articleId"]["S"])
    copy_if_newer(ddb, reader, Image("", article_id, {k: item[k] for k in COPIED if k in item}))
    return top_posts.ranked(item)


def repair_posts(ddb: Any, tables: Tables, article_ids: Iterable[str]) -> list[Ranked]:
    copied = []
    for article_id in sorted(article_ids):
        response = ddb.get_item(TableName=tables.writer, Key={"articleId": {"S": article_id}}, ConsistentRead=True)
        post = copy_current(ddb, tables.reader, response.get("Item", {}))
        if post is not None:
            copied.append(post)
    return copied


def reconcile_all(ddb: Any, tables: Tables) -> tuple[int, tuple[Ranked, ...]]:
    """Every post: only on the rare path where the failed range has left the stream.

    Returns how many were copied and the best ranked of them (the whole list is never held)."""
    copied = 0
    best: tuple[Ranked, ...] = ()
    for item in top_posts.scan(ddb, tables.writer, ConsistentRead=True):
        post = copy_current(ddb, tables.reader, item)
        if post is not None:
            copied += 1
            best = top_posts.merge(best, [post])
    return copied, best


def repair(ddb: Any, streams: Any, tables: Tables, failed: FailedRange) -> None:
    """Reader, then top posts: the skipped records reached neither (replicate keeps both)."""
    keys = read_range(streams, failed)
    if keys is None:
        copied, best = reconcile_all(ddb, tables)
        log("warn", "repair_reconciled_all", reason="range_not_in_stream", copied=copied)
        top_posts.merge_into_top(ddb, tables.top, best)
    else:
        posts = repair_posts(ddb, tables, keys)
        log("info", "repair_range", posts=len(keys), copied=len(posts))
        top_posts.merge_into_top(ddb, tables.top, posts)


def repair_batch(ddb: Any, streams: Any, tables: Tables, records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Each failure message on its own; the messageIds to report as failed."""
    failed_ids: list[str] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            failed = parse_failure(str(record.get("body", "")))
        except ValueError:
            log("error", "repair_message_malformed")
            failed_ids.append(message_id)  # to this queue's DLQ, for an operator
            continue
        try:
            repair(ddb, streams, tables, failed)
        except (ClientError, BotoCoreError, top_posts.TopContended) as exc:
            log("error", "repair_failed", error=type(exc).__name__)
            failed_ids.append(message_id)
    return failed_ids


def handler(event: dict[str, Any], context: object) -> BatchResponse:
    settings = load_settings()
    failed = repair_batch(
        aws.client("dynamodb"),
        aws.client("dynamodbstreams"),
        Tables(settings.table(POST_COUNT_WRITER), settings.table(POST_COUNT_READER), settings.table(TOP_POSTS)),
        event.get("Records", []),
    )
    return batch_response(failed)
