"""series: the count tables' streams into monotone hourly and daily snapshots."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from support.aws import Cloud
from support.events import post_item, sqs_event, sqs_record, stream_record, view_event
from support.faults import fail
from support.series import START, all_records, feed, series_items, series_mismatches

from handlers import aws, counter, referrers, series
from handlers.wiring import ENV_ALERT_VIEWS_PER_HOUR, SERIES

ORIGINS = ("https://news.ycombinator.com", "https://lobste.rs", "https://www.google.com")


def count_views(rng: random.Random, batches: int = 12) -> None:
    """Posts, pages and referred views through the real counters, in small batches."""
    for _ in range(batches):
        events = []
        for _ in range(rng.randint(1, 5)):
            fields: dict[str, Any] = {"unique": rng.random() < 0.7}
            if rng.random() < 0.6:
                fields |= {"articleId": rng.choice(["a", "b", "c"])}
            else:
                fields |= {"eventType": "homepage_view", "articleId": None, "articleTitle": None, "page": "Home_Page"}
            if rng.random() < 0.5:
                fields["referrer"] = rng.choice(ORIGINS)
            events.append(view_event(**fields))
        for handler in (counter.handler, referrers.handler):
            wanted = [e for e in events if handler is counter.handler or "referrer" in e]
            if wanted:
                assert handler(sqs_event([sqs_record(e) for e in wanted]), None)["batchItemFailures"] == []


def record(image: dict[str, Any], sequence_number: str, at: int, old: dict[str, Any] | None = None) -> dict[str, Any]:
    made = stream_record(image, sequence_number)
    made["dynamodb"]["ApproximateCreationDateTime"] = at
    if old is not None:
        made["dynamodb"]["OldImage"] = old
    return made


def referrer_item(origin: str, target: str, views: int) -> dict[str, Any]:
    return {"referrer": {"S": origin}, "target": {"S": target}, "views": {"N": str(views)}}


def test_series_sums_to_counts_for_posts_pages_and_referrers(cloud: Cloud) -> None:
    count_views(random.Random(3))
    for records in all_records(cloud).values():
        feed(records)
    assert series_mismatches(cloud) == []
    items = series_items(cloud)
    assert {k.split("#")[0] for k in items} == {"post", "page", "ref"}
    assert len(items["post#a"]) > 1  # spread over several hours


def test_series_replayed_reordered_and_duplicated_records_change_nothing(cloud: Cloud) -> None:
    count_views(random.Random(5))
    streams = all_records(cloud)
    for records in streams.values():
        feed(records)
    before = series_items(cloud)
    rng = random.Random(9)
    for records in streams.values():
        replayed = records + rng.sample(records, len(records) // 2) + copy.deepcopy(records[:3])
        rng.shuffle(replayed)
        feed(replayed, size=5)
    assert series_items(cloud) == before
    assert series_mismatches(cloud) == []


def test_series_reordered_first_delivery_still_sums(cloud: Cloud) -> None:
    """Out of order from the start (a retried batch after later ones): the max still wins."""
    count_views(random.Random(11))
    rng = random.Random(2)
    for records in all_records(cloud).values():
        shuffled = list(records)
        rng.shuffle(shuffled)
        feed(shuffled, size=4)
    assert series_mismatches(cloud) == []


def test_series_hour_is_the_records_commit_time() -> None:
    last_second = START + 3600 - 1  # 2026-11-28T00:59:59Z
    batch = series.parse_stream_batch(
        {"Records": [record(post_item("a", 1), "1", last_second), record(post_item("a", 2), "2", last_second + 1)]}
    )
    assert [(s.series_key, s.bucket) for _, s in batch.snapshots] == [
        ("post#a", "2026-11-28T00"),
        ("post#a", "2026-11-28T01"),
    ]


def test_series_referrer_day_bucket_names_the_target() -> None:
    image = referrer_item("https://lobste.rs", "post:x:y", 4)
    batch = series.parse_stream_batch({"Records": [record(image, "1", START + 5)]})
    assert [(s.series_key, s.bucket, s.totals) for _, s in batch.snapshots] == [
        ("ref#https://lobste.rs", "2026-11-28#post#x:y", (("views", 4),))
    ]


def test_series_one_write_per_item_per_batch(cloud: Cloud) -> None:
    calls: list[dict[str, Any]] = []
    aws.client("dynamodb").meta.events.register(
        "before-call.dynamodb.UpdateItem", lambda params, **_: calls.append(params)
    )
    batch = [record(post_item("a", n), str(n), START + n) for n in range(1, 6)]
    batch += [record(post_item("b", 1), "9", START + 9), record(post_item("a", 6), "10", START + 3600)]
    assert series.handler({"Records": batch}, None) == {"batchItemFailures": []}
    assert len(calls) == 3  # a in hour 0, b in hour 0, a in hour 1
    assert series_items(cloud)["post#a"] == [
        ("2026-11-28T00", {"totalViews": 5, "uniqueViews": 5}),
        ("2026-11-28T01", {"totalViews": 6, "uniqueViews": 6}),
    ]


def test_series_bad_records_reported_and_the_rest_written(cloud: Cloud) -> None:
    no_time = record(post_item("b", 1), "11", START)
    no_time["dynamodb"].pop("ApproximateCreationDateTime")
    batch = [
        record(post_item("a", 1), "10", START),
        no_time,
        record({**post_item("c", 1), "totalViews": {"S": "x"}}, "12", START),
        record(referrer_item("https://lobste.rs", "nothing", 1), "13", START),
        record(post_item("d", 1), "14", START),
    ]
    response = series.handler({"Records": batch}, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": s} for s in ("11", "12", "13")]}
    assert set(series_items(cloud)) == {"post#a", "post#d"}


def test_series_remove_and_key_only_insert_write_nothing(cloud: Cloud) -> None:
    removal = stream_record(None, "1", event_name="REMOVE")
    key_only = record({"articleId": {"S": "a"}}, "2", START)
    assert series.handler({"Records": [removal, key_only]}, None) == {"batchItemFailures": []}
    assert series_items(cloud) == {}


def test_series_write_failure_reports_that_items_records(cloud: Cloud) -> None:
    fail(
        aws.client("dynamodb"),
        "UpdateItem",
        "ProvisionedThroughputExceededException",
        when=lambda params: params["Key"]["seriesKey"] == {"S": "post#b"},
    )
    batch = [
        record(post_item("b", 1), "1", START),
        record(post_item("a", 1), "2", START),
        record(post_item("b", 2), "3", START),
    ]
    response = series.handler({"Records": batch}, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "1"}, {"itemIdentifier": "3"}]}
    assert set(series_items(cloud)) == {"post#a"}


def test_series_hourly_referrers_only_with_alerts(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    image = referrer_item("https://lobste.rs", "page:Home_Page", 3)
    series.handler(
        {"Records": [record(image, "1", START, old=referrer_item("https://lobste.rs", "page:Home_Page", 2))]}, None
    )
    assert set(series_items(cloud)) == {"ref#https://lobste.rs"}
    monkeypatch.setenv(ENV_ALERT_VIEWS_PER_HOUR, "10")
    aws.reset()
    series.handler(
        {"Records": [record(image, "1", START, old=referrer_item("https://lobste.rs", "page:Home_Page", 2))]}, None
    )
    assert series_items(cloud)["refh#page#Home_Page"] == [("2026-11-28T00#https://lobste.rs", {"views": 3, "base": 2})]


def test_series_hourly_referrer_base_is_the_lowest_seen_in_any_order(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_ALERT_VIEWS_PER_HOUR, "10")
    aws.reset()
    origin, target = "https://lobste.rs", "post:a"
    records = [
        record(referrer_item(origin, target, n + 1), str(n), START + n, old=referrer_item(origin, target, n))
        for n in range(4, 9)
    ]
    for order in ([3, 4], [0, 1], [2], [4, 0]):  # a later batch first, then earlier ones, then a replay
        assert series.handler({"Records": [records[i] for i in order]}, None) == {"batchItemFailures": []}
    assert series_items(cloud)["refh#post#a"] == [(f"2026-11-28T00#{origin}", {"views": 9, "base": 4})]


def test_series_table_is_the_wiring_tables(cloud: Cloud) -> None:
    table = cloud.ddb.describe_table(TableName=cloud.table(SERIES))["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"seriesKey": "HASH", "bucket": "RANGE"}
