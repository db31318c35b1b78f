"""The top-posts item: kept by replicate equal to the reader's top, whatever the stream does."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.aws import STACK, Cloud
from support.events import post_item, stream_record
from support.faults import fail

from handlers import aws, replicate, top_posts
from handlers.top_posts import TOP_SIZE, Ranked
from handlers.wiring import POST_COUNT_READER, TOP_POSTS


def image(article_id: str, total: int, unique: int | None = None) -> dict[str, Any]:
    """A post image whose title tells which image the top kept."""
    return post_item(article_id, total, unique, f"{article_id} at {total}")


def copy(*images: dict[str, Any]) -> dict[str, Any]:
    records = [stream_record(i, str(n)) for n, i in enumerate(images, 1)]
    return dict(replicate.handler({"Records": records}, None))


def stored_top(cloud: Cloud) -> tuple[Ranked, ...]:
    return top_posts.decode(cloud.item(TOP_POSTS, listId=top_posts.LIST_ID)).posts


def reader_top(cloud: Cloud) -> tuple[Ranked, ...]:
    """The truth: the best ranked posts of the whole reader table."""
    posts = [top_posts.ranked(item) for item in cloud.items(POST_COUNT_READER)]
    return tuple(sorted(posts, key=lambda p: p.rank)[:TOP_SIZE])


def top_writes(cloud: Cloud) -> list[dict[str, Any]]:
    writes: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if params["TableName"] == cloud.table(TOP_POSTS):
            writes.append(params)

    aws.client("dynamodb").meta.events.register("provide-client-params.dynamodb.PutItem", record)
    return writes


# ---- the pure merge ---------------------------------------------------------------------


def test_top_merge_keeps_each_posts_most_viewed_image_and_the_best_ranked() -> None:
    held = (Ranked("a", "A2", 9, 5), Ranked("b", "B", 4, 4))
    merged = top_posts.merge(held, [Ranked("a", "A1", 7, 4), Ranked("c", "C", 4, 1), Ranked("d", "D", 1, 1)], limit=3)
    assert merged == (Ranked("a", "A2", 9, 5), Ranked("b", "B", 4, 4), Ranked("c", "C", 4, 1))


ranked_posts = st.builds(
    Ranked,
    article_id=st.sampled_from([f"p{i}" for i in range(14)]),
    title=st.just("T"),
    total=st.integers(1, 12),
    unique=st.just(0),
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.lists(ranked_posts, max_size=6), max_size=12))
def test_top_merge_of_any_batches_in_any_order_is_the_top_of_each_posts_best(batches: list[list[Ranked]]) -> None:
    top: tuple[Ranked, ...] = ()
    for batch in batches:  # replays and reordering are in the lists themselves
        top = top_posts.merge(top, batch)
    best: dict[str, Ranked] = {}
    for post in (p for batch in batches for p in batch):
        if post.article_id not in best or post.total > best[post.article_id].total:
            best[post.article_id] = post
    assert top == tuple(sorted(best.values(), key=lambda p: p.rank)[:TOP_SIZE])


def test_top_item_round_trips() -> None:
    top = top_posts.Top(3, (Ranked("a", "Ä ✓", 9, 5), Ranked("b", "", 4, 4)))
    assert top_posts.decode(top_posts.encode(top)) == top


# ---- replicate keeps it -------------------------------------------------------------------


images_of_posts = st.lists(
    st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=4),  # one post: its view increments
    min_size=1,
    max_size=16,  # more posts than the top holds, so posts are pushed out and come back
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(increments=images_of_posts, shuffle_seed=st.integers(0, 2**32 - 1), data=st.data())
def test_top_equals_the_readers_top_after_replayed_and_reordered_batches(
    cloud: Cloud, increments: list[list[int]], shuffle_seed: int, data: st.DataObject
) -> None:
    for table, key in ((POST_COUNT_READER, "articleId"), (TOP_POSTS, "listId")):
        for item in cloud.items(table):  # hypothesis reuses the fixture: start each example empty
            cloud.ddb.delete_item(TableName=cloud.table(table), Key={key: item[key]})
    images: list[dict[str, Any]] = []
    for post, steps in enumerate(increments):
        total = 0
        for step in steps:  # small steps: posts often tie on total views (ranked by id then)
            total += step
            images.append(image(f"post-{post:02}", total, unique=data.draw(st.integers(0, total))))
    records = [stream_record(i, str(n)) for n, i in enumerate(images)]
    replays = data.draw(st.lists(st.sampled_from(records), max_size=len(records)))
    delivered = records + replays
    random.Random(shuffle_seed).shuffle(delivered)
    start = 0
    while start < len(delivered):  # several invocations of any size, in any order
        size = data.draw(st.integers(1, 8))
        batch = delivered[start : start + size]
        assert replicate.handler({"Records": batch}, None) == {"batchItemFailures": []}
        start += size
    assert stored_top(cloud) == reader_top(cloud)


def test_top_batch_that_changes_nothing_writes_nothing(cloud: Cloud) -> None:
    copy(*(image(f"p{i}", 10 + i) for i in range(TOP_SIZE)))
    writes = top_writes(cloud)
    assert copy(image("small", 3), image("p0", 5), image("p3", 13)) == {"batchItemFailures": []}
    assert writes == []  # below the top, an older image, a replay: the item is unchanged
    copy(image("p0", 30))
    assert len(writes) == 1 and stored_top(cloud)[0] == Ranked("p0", "p0 at 30", 30, 30)


def test_top_concurrent_writer_is_merged_not_overwritten(cloud: Cloud) -> None:
    copy(image("a", 5))
    table = cloud.table(TOP_POSTS)
    raced: list[int] = []

    def another_shard_writes_first(params: dict[str, Any], **_: Any) -> None:
        if params["TableName"] == table and not raced:  # between this invocation's read and write
            raced.append(1)
            top_posts.merge_into_top(cloud.ddb, table, [Ranked("b", "B", 8, 8)])

    aws.client("dynamodb").meta.events.register("provide-client-params.dynamodb.PutItem", another_shard_writes_first)
    assert copy(image("c", 6)) == {"batchItemFailures": []}
    assert [p.article_id for p in stored_top(cloud)] == ["b", "c", "a"]
    assert top_posts.decode(cloud.item(TOP_POSTS, listId=top_posts.LIST_ID)).version == 3


def test_top_write_failure_reports_the_records_and_the_retry_merges_them(cloud: Cloud) -> None:
    failed = fail(
        aws.client("dynamodb"),
        "PutItem",
        "ProvisionedThroughputExceededException",
        when=lambda params: params["TableName"] == cloud.table(TOP_POSTS),
        times=1,
    )
    batch = [stream_record(image("a", 1), "1"), stream_record(image("b", 2), "2"), stream_record(image("a", 3), "3")]
    response = replicate.handler({"Records": batch}, None)
    assert len(failed) == 1
    assert response == {"batchItemFailures": [{"itemIdentifier": s} for s in ("1", "3", "2")]}
    assert stored_top(cloud) == ()
    assert replicate.handler({"Records": batch}, None) == {"batchItemFailures": []}  # the stream's retry
    assert stored_top(cloud) == reader_top(cloud) == (Ranked("a", "a at 3", 3, 3), Ranked("b", "b at 2", 2, 2))


def test_top_never_shows_a_count_the_reader_failed_to_copy(cloud: Cloud) -> None:
    fail(
        aws.client("dynamodb"),
        "PutItem",
        "ProvisionedThroughputExceededException",
        when=lambda params: (
            params["TableName"] == cloud.table(POST_COUNT_READER) and params["Item"]["articleId"]["S"] == "b"
        ),
    )
    response = copy(image("a", 1), image("b", 9))
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert stored_top(cloud) == reader_top(cloud) == (Ranked("a", "a at 1", 1, 1),)


# ---- existing deployments: the operator's rebuild ----------------------------------------------


def seed_reader_only(cloud: Cloud, images: list[dict[str, Any]]) -> None:
    """Posts counted before the top-posts item existed: in the reader, not in the item."""
    cloud.put(POST_COUNT_READER, *images)


def test_top_rebuild_fills_the_item_from_the_reader_and_keeps_newer_counts(cloud: Cloud) -> None:
    seed_reader_only(cloud, [image(f"old-{i:02}", 20 + i) for i in range(15)])
    copy(image("new", 25), image("old-01", 40))  # viewed since the change: these self-heal
    assert [p.article_id for p in stored_top(cloud)] == ["old-01", "new"]
    top = top_posts.rebuild(cloud.ddb, cloud.table(POST_COUNT_READER), cloud.table(TOP_POSTS))
    assert top.posts == stored_top(cloud) == reader_top(cloud)
    assert top.posts[0] == Ranked("old-01", "old-01 at 40", 40, 40)
    again = top_posts.rebuild(cloud.ddb, cloud.table(POST_COUNT_READER), cloud.table(TOP_POSTS))
    assert again == top  # idempotent: nothing changed, nothing written


def test_top_rebuild_command_names_the_stack(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    seed_reader_only(cloud, [image("a", 3, unique=2), image("b", 5, unique=1)])
    assert top_posts.main(["--stack", STACK]) == 0
    assert capsys.readouterr().out.split() == ["5", "1", "b", "3", "2", "a"]
    assert stored_top(cloud) == reader_top(cloud)
