"""replicate-repair at the edges of a skipped range, and its reconcile of every post.
Kills handlers/repair.py survivors of the mutation run (tests/MUTATION.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.aws import Cloud
from support.events import post_item

from handlers import repair
from handlers.repair import FailedRange, Tables, keys_in_range
from handlers.wiring import POST_COUNT_READER, POST_COUNT_WRITER, TOP_POSTS

RANGE = FailedRange(stream_arn="arn", shard_id="shard", start=20, end=40)


def records(*positions: tuple[int, str]) -> list[dict[str, Any]]:
    return [{"dynamodb": {"SequenceNumber": str(n), "Keys": {"articleId": {"S": article}}}} for n, article in positions]


def test_repair_range_includes_its_first_and_last_record() -> None:
    page = records((10, "before"), (20, "first"), (30, "middle"), (40, "last"), (50, "after"))
    assert keys_in_range(page, RANGE) == ({"first", "middle", "last"}, True)


def test_repair_range_end_passed_without_its_own_record_is_still_the_end() -> None:
    """The end record may be missing from the page (a sequence number is not contiguous):
    a record past the end ends the range, or repair would read on and reconcile every post."""
    assert keys_in_range(records((30, "middle"), (45, "after")), RANGE) == ({"middle"}, True)
    assert keys_in_range(records((30, "middle")), RANGE) == ({"middle"}, False)


def test_repair_reconcile_counts_the_posts_it_copied_and_reads_consistently(cloud: Cloud) -> None:
    scans: list[dict[str, Any]] = []
    cloud.ddb.meta.events.register("provide-client-params.dynamodb.Scan", lambda params, **_: scans.append(params))
    cloud.put(POST_COUNT_WRITER, *(post_item(f"p{i}", i + 1) for i in range(3)))
    tables = Tables(cloud.table(POST_COUNT_WRITER), cloud.table(POST_COUNT_READER), cloud.table(TOP_POSTS))
    copied, best = repair.reconcile_all(cloud.ddb, tables)
    assert copied == 3 and [post.article_id for post in best] == ["p2", "p1", "p0"]
    assert scans and all(scan.get("ConsistentRead") is True for scan in scans)


def test_repair_failure_message_with_an_empty_name_or_an_inverted_range_is_refused() -> None:
    good = {"streamArn": "arn", "shardId": "shard", "startSequenceNumber": "20", "endSequenceNumber": "40"}
    assert repair.parse_failure(json.dumps({"DDBStreamBatchInfo": good})) == RANGE
    for bad in ({"streamArn": ""}, {"shardId": ""}, {"startSequenceNumber": "41"}):
        with pytest.raises(ValueError, match="empty or inverted range"):
            repair.parse_failure(json.dumps({"DDBStreamBatchInfo": {**good, **bad}}))


def test_repair_reads_each_post_consistently_and_skips_one_deleted_by_hand(cloud: Cloud) -> None:
    """A post an operator deleted from the writer is not copied (and does not stop the
    others); the others are read with a consistent read, so the reader gets the writer's
    latest count."""
    reads: list[dict[str, Any]] = []
    cloud.ddb.meta.events.register("provide-client-params.dynamodb.GetItem", lambda params, **_: reads.append(params))
    cloud.put(POST_COUNT_WRITER, post_item("kept", 4))
    tables = Tables(cloud.table(POST_COUNT_WRITER), cloud.table(POST_COUNT_READER), cloud.table(TOP_POSTS))
    copied = repair.repair_posts(cloud.ddb, tables, {"kept", "deleted"})
    assert [post.article_id for post in copied] == ["kept"]
    assert cloud.item(POST_COUNT_READER, articleId="kept") == post_item("kept", 4)
    writer_reads = [r for r in reads if r["TableName"] == tables.writer]
    assert len(writer_reads) == 2 and all(r.get("ConsistentRead") is True for r in writer_reads)


class PagedStream:
    """GetShardIterator and GetRecords over fixed pages, refusing a Limit AWS refuses
    (GetRecords takes at most 1,000 records)."""

    def __init__(self, *pages: list[dict[str, Any]]) -> None:
        self.pages = pages

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "0"}

    def get_records(self, ShardIterator: str, Limit: int = 1000) -> dict[str, Any]:
        if not 1 <= Limit <= 1000:
            raise ValueError(f"GetRecords Limit {Limit} is outside 1..1000")
        n = int(ShardIterator)
        return {"Records": self.pages[n], "NextShardIterator": str(n + 1) if n + 1 < len(self.pages) else None}


def test_repair_range_over_several_pages_keeps_every_pages_posts() -> None:
    stream = PagedStream(records((20, "first")), [], records((30, "middle")), records((40, "last"), (50, "after")))
    assert repair.read_range(stream, RANGE) == {"first", "middle", "last"}
