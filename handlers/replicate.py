"""replicate: copy PostCountWriter's stream into PostCountReader, then keep the top posts.

Counts only grow (every writer update adds at least one total view), so the copy
is a conditional Put that succeeds only when it carries more total views than the
reader holds. A replayed, duplicated or out-of-order record can therefore never
move a count backwards, and applying the same record twice changes nothing.

A second step merges the images the reader now holds into the top-posts item
(handlers/top_posts.py), which `stats` reads instead of scanning the reader. It runs in
the same invocation rather than as another reader of the stream: DynamoDB advises at
most two Lambda readers per shard, and the live fan-out needs the second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from handlers import aws, top_posts
from handlers.attributes import number
from handlers.batch import BatchResponse, batch_response
from handlers.log import log
from handlers.settings import load_settings
from handlers.wiring import POST_COUNT_READER, TOP_POSTS

COPIED = ("articleId", "articleTitle", "totalViews", "uniqueViews")


class Image(NamedTuple):
    sequence_number: str
    article_id: str
    item: dict[str, Any]

    @property
    def order(self) -> tuple[int, int]:
        return number(self.item, "totalViews"), number(self.item, "uniqueViews")


class StreamBatch(NamedTuple):
    images: list[Image]
    rejected: list[str]
    """Sequence numbers of records that cannot be copied."""


def _image(record: Mapping[str, Any]) -> Image | None:
    """A record's new image, None when there is nothing to copy, ValueError when malformed."""
    data = record["dynamodb"]
    sequence_number = str(data["SequenceNumber"])
    if record.get("eventName") == "REMOVE":
        return None  # the writer never deletes; an operator's delete is not replicated
    new = data["NewImage"]
    article_id = new["articleId"]["S"]
    if not article_id:
        raise ValueError("image without articleId")
    if "totalViews" not in new:
        # moto records an UpdateItem that creates an item as a key-only INSERT
        # followed by the full image; there is nothing to copy from the first.
        return None
    item = {k: new[k] for k in COPIED if k in new}
    for name in ("totalViews", "uniqueViews"):
        if name in item:
            int(item[name]["N"])  # a count must be a number: KeyError or ValueError otherwise
    return Image(sequence_number, article_id, item)


def parse_stream_batch(event: Mapping[str, Any]) -> StreamBatch:
    images: list[Image] = []
    rejected: list[str] = []
    for record in event.get("Records", []):
        try:
            image = _image(record)
        except (KeyError, TypeError, ValueError):
            sequence_number = str((record.get("dynamodb") or {}).get("SequenceNumber", ""))
            rejected.append(sequence_number)
            continue
        if image is not None:
            images.append(image)
    return StreamBatch(images, rejected)


def newest_per_article(images: list[Image]) -> dict[str, tuple[Image, list[str]]]:
    """Pure: the image with the most views per article, and every sequence number that fed it."""
    newest: dict[str, tuple[Image, list[str]]] = {}
    for image in images:
        best, sequence_numbers = newest.get(image.article_id, (image, []))
        if image.order > best.order:
            best = image
        newest[image.article_id] = (best, [*sequence_numbers, image.sequence_number])
    return newest


def copy_if_newer(ddb: Any, table: str, image: Image) -> None:
    # Held back by its condition: the reader already holds this or a newer image.
    aws.written(
        ddb.put_item,
        TableName=table,
        Item=image.item,
        ConditionExpression="attribute_not_exists(articleId) OR totalViews < :total",
        ExpressionAttributeValues={":total": image.item["totalViews"]},
    )


def replicate(ddb: Any, table: str, batch: StreamBatch) -> list[str]:
    failed: list[str] = list(batch.rejected)
    for image, sequence_numbers in newest_per_article(batch.images).values():
        try:
            copy_if_newer(ddb, table, image)
        except (ClientError, BotoCoreError) as exc:
            log("error", "replicate_failed", error=type(exc).__name__)
            failed.extend(sequence_numbers)
    return failed


def update_top_posts(ddb: Any, table: str, batch: StreamBatch, failed: list[str]) -> list[str]:
    """Merge the images whose reader copy succeeded into the top posts; their records if that fails.

    Images whose copy failed are left out, so the top never shows a count the reader does
    not hold; they are merged when the stream retries them. A failed top write reports
    the records that fed it: the retry copies them again (a no-op) and merges them.
    """
    not_copied = set(failed)
    copied = [(image, seqs) for image, seqs in newest_per_article(batch.images).values() if not_copied.isdisjoint(seqs)]
    if not copied:
        return []
    try:
        top_posts.merge_into_top(ddb, table, [top_posts.ranked(image.item) for image, _ in copied])
    except (ClientError, BotoCoreError, top_posts.TopContended) as exc:
        log("error", "top_posts_failed", error=type(exc).__name__)
        return [seq for _, seqs in copied for seq in seqs]
    return []


def handler(event: dict[str, Any], context: object) -> BatchResponse:
    batch = parse_stream_batch(event)
    ddb, settings = aws.client("dynamodb"), load_settings()
    failed = replicate(ddb, settings.table(POST_COUNT_READER), batch)
    failed += update_top_posts(ddb, settings.table(TOP_POSTS), batch, failed)
    return batch_response(failed)
