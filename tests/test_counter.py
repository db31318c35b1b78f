"""Queue consumers: one write per key, partial failures, exactly-once counting."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.aws import Cloud
from support.events import now_ms, sqs_event, sqs_record, view_event
from support.faults import fail, lose_response

from handlers import aws, counter, referrers
from handlers.attributes import number
from handlers.batch import BatchResponse
from handlers.ledger import MARKER_TTL_SECONDS, MAX_EVENT_AGE_SECONDS
from handlers.wiring import COUNTED_EVENTS, HOME_AND_PROFILE, POST_COUNT_WRITER, REFERRER


def counts(cloud: Cloud, article_id: str = "hello-world") -> tuple[int, int]:
    item = cloud.item(POST_COUNT_WRITER, articleId=article_id)
    return number(item, "totalViews"), number(item, "uniqueViews")


def page_counts(cloud: Cloud, page: str) -> tuple[int, int]:
    item = cloud.item(HOME_AND_PROFILE, pageName=page)
    return number(item, "totalViews"), number(item, "uniqueViews")


def failures(response: BatchResponse) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def test_counter_batch_aggregates_one_write_per_key(cloud: Cloud) -> None:
    seen: list[dict[str, Any]] = []
    aws.client("dynamodb").meta.events.register(
        "before-call.dynamodb.TransactWriteItems", lambda params, **_: seen.append(json.loads(params["body"]))
    )
    records = [sqs_record(view_event(unique=i % 2 == 0)) for i in range(6)]
    records += [sqs_record(view_event(articleId="other", articleTitle="Other")) for _ in range(3)]
    assert failures(counter.handler(sqs_event(records), None)) == []
    assert counts(cloud) == (6, 3) and counts(cloud, "other") == (3, 3)
    updates = [i for t in seen for i in t["TransactItems"] if "Update" in i]
    assert len(seen) == 2 and len(updates) == 2


def title(cloud: Cloud, article_id: str = "hello-world") -> str | None:
    stored: str | None = cloud.item(POST_COUNT_WRITER, articleId=article_id).get("articleTitle", {}).get("S")
    return stored


def test_counter_views_cannot_rename_a_post(cloud: Cloud) -> None:
    counter.handler(sqs_event([sqs_record(view_event(articleTitle="Hello World"))]), None)
    counter.handler(sqs_event([sqs_record(view_event(articleTitle="Buy pills at evil.example"))]), None)
    assert title(cloud) == "Hello World" and counts(cloud) == (2, 2)


def test_counter_first_title_stored_when_earlier_views_had_none(cloud: Cloud) -> None:
    counter.handler(sqs_event([sqs_record(view_event(articleTitle=None))]), None)
    assert title(cloud) is None
    counter.handler(sqs_event([sqs_record(view_event(articleTitle="Hello World"))]), None)
    counter.handler(sqs_event([sqs_record(view_event(articleTitle="Other"))]), None)
    assert title(cloud) == "Hello World"


def test_counter_batch_title_is_the_earliest_received_views(cloud: Cloud) -> None:
    early = view_event(articleTitle="Early", receivedAt=now_ms() - 5_000)
    late = view_event(articleTitle="Late", receivedAt=now_ms())
    counter.handler(sqs_event([sqs_record(late), sqs_record(early)]), None)
    assert title(cloud) == "Early"


def test_counter_pages_counted_in_home_and_profile(cloud: Cloud) -> None:
    home = view_event(eventType="homepage_view", articleId=None, articleTitle=None, page="Home_Page")
    reload = {**home, "eventId": "second", "unique": False}
    counter.handler(sqs_event([sqs_record(home), sqs_record(reload)]), None)
    assert page_counts(cloud, "Home_Page") == (2, 1)


def test_counter_poison_record_reported_rest_counted_once(cloud: Cloud) -> None:
    records = [sqs_record(view_event()) for _ in range(9)]
    poison = sqs_record('{"eventId": "x", "eventType": "post_view", "unique": "maybe"}')
    records.insert(4, poison)
    response = counter.handler(sqs_event(records), None)
    assert failures(response) == [poison["messageId"]]
    assert counts(cloud) == (9, 9)


def test_counter_not_json_body_reported(cloud: Cloud) -> None:
    bad = sqs_record("not json at all")
    assert failures(counter.handler(sqs_event([bad, sqs_record(view_event())]), None)) == [bad["messageId"]]


def test_counter_same_batch_delivered_twice_changes_nothing(cloud: Cloud) -> None:
    event = sqs_event([sqs_record(view_event()) for _ in range(10)])
    counter.handler(event, None)
    markers_after_first = len(cloud.items(COUNTED_EVENTS))
    assert failures(counter.handler(event, None)) == []
    assert counts(cloud) == (10, 10)
    assert markers_after_first == len(cloud.items(COUNTED_EVENTS)) == 10


def test_counter_redelivery_mixed_with_new_views_counts_only_new(cloud: Cloud) -> None:
    old = [sqs_record(view_event()) for _ in range(3)]
    counter.handler(sqs_event(old), None)
    fresh = [sqs_record(view_event()) for _ in range(2)]
    assert failures(counter.handler(sqs_event(old[:2] + fresh), None)) == []
    assert counts(cloud) == (5, 5)


def test_counter_duplicate_sns_delivery_same_event_id_counted_once(cloud: Cloud) -> None:
    event = view_event(event_id="one-view")
    records = [sqs_record(event), sqs_record(event)]  # two SQS messages, one view
    assert failures(counter.handler(sqs_event(records), None)) == []
    assert counts(cloud) == (1, 1)


def test_counter_in_batch_duplicate_before_other_views_counts_every_later_view(cloud: Cloud) -> None:
    """The duplicate sorts first (earliest received): every view after it in the batch
    still counts, none is dropped unreported (SQS would delete it)."""
    start = now_ms() - 10_000
    dup = view_event(event_id="twice", receivedAt=start)
    later = [view_event(receivedAt=start + i) for i in range(1, 4)]
    later += [view_event(receivedAt=start + 10, articleId="other", articleTitle="Other")]
    records = [sqs_record(dup), sqs_record(dup)] + [sqs_record(e) for e in later]
    assert failures(counter.handler(sqs_event(records), None)) == []
    assert counts(cloud) == (4, 4) and counts(cloud, "other") == (1, 1)


def test_counter_throttled_write_reports_exactly_its_messages(cloud: Cloud) -> None:
    def for_other(params: dict[str, Any]) -> bool:
        return any(i.get("Update", {}).get("Key") == {"articleId": {"S": "other"}} for i in params["TransactItems"])

    fail(aws.client("dynamodb"), "TransactWriteItems", "ProvisionedThroughputExceededException", when=for_other)
    mine = [sqs_record(view_event()) for _ in range(3)]
    others = [sqs_record(view_event(articleId="other")) for _ in range(2)]
    response = counter.handler(sqs_event([mine[0], others[0], mine[1], others[1], mine[2]]), None)
    assert sorted(failures(response)) == sorted(r["messageId"] for r in others)
    assert counts(cloud) == (3, 3) and counts(cloud, "other") == (0, 0)


def test_counter_failed_write_then_redelivery_counts_once(cloud: Cloud) -> None:
    fail(aws.client("dynamodb"), "TransactWriteItems", "InternalServerError", status=500, times=1)
    event = sqs_event([sqs_record(view_event()) for _ in range(4)])
    assert len(failures(counter.handler(event, None))) == 4
    assert counts(cloud) == (0, 0)
    assert failures(counter.handler(event, None)) == []
    assert counts(cloud) == (4, 4)


def test_counter_sdk_retry_after_committed_write_counts_once(cloud: Cloud) -> None:
    retried = lose_response(aws.client("dynamodb"), "TransactWriteItems")
    response = counter.handler(sqs_event([sqs_record(view_event()) for _ in range(3)]), None)
    assert retried == [1], "the fault did not fire"
    assert failures(response) == []
    assert counts(cloud) == (3, 3)


def test_counter_transaction_conflict_retried(cloud: Cloud) -> None:
    fail(aws.client("dynamodb"), "TransactWriteItems", "TransactionCanceledException", times=2)
    assert failures(counter.handler(sqs_event([sqs_record(view_event())]), None)) == []
    assert counts(cloud) == (1, 1)


def test_counter_more_than_99_views_of_one_key_split_into_transactions(cloud: Cloud) -> None:
    records = [sqs_record(view_event(unique=i < 50)) for i in range(150)]
    assert failures(counter.handler(sqs_event(records), None)) == []
    assert counts(cloud) == (150, 50)


def test_counter_markers_expire(cloud: Cloud) -> None:
    event = view_event()
    counter.handler(sqs_event([sqs_record(event)]), None)
    [marker] = cloud.items(COUNTED_EVENTS)
    assert marker["markerId"]["S"].startswith("views#")
    assert int(marker["expiresAt"]["N"]) == event["receivedAt"] // 1000 + MARKER_TTL_SECONDS  # receivedAt + 60 days


def test_counter_redelivered_batch_repeats_the_identical_transaction(cloud: Cloud) -> None:
    """An idempotency token must never come back with other parameters (DynamoDB
    would answer IdempotentParameterMismatch and the views would end in the DLQ)."""
    sent: list[bytes] = []
    aws.client("dynamodb").meta.events.register(
        "before-call.dynamodb.TransactWriteItems", lambda params, **_: sent.append(params["body"])
    )
    event = sqs_event([sqs_record(view_event()) for _ in range(3)])
    counter.handler(event, None)
    counter.handler(event, None)
    assert len(sent) == 2 and sent[0] == sent[1]


def test_referrers_counted_per_referrer_and_target_without_hits(cloud: Cloud) -> None:
    hn = "https://news.ycombinator.com"
    records = [sqs_record(view_event(referrer=hn)) for _ in range(3)]
    records.append(
        sqs_record(
            view_event(referrer=hn, articleId=None, articleTitle=None, eventType="homepage_view", page="Home_Page")
        )
    )
    records.append(sqs_record(view_event()))  # no referrer: nothing to count, not a failure
    assert failures(referrers.handler(sqs_event(records), None)) == []
    rows = {(r["referrer"]["S"], r["target"]["S"]): number(r, "views") for r in cloud.items(REFERRER)}
    assert rows == {(hn, "post:hello-world"): 3, (hn, "page:Home_Page"): 1}
    assert all(set(r) == {"referrer", "target", "views"} for r in cloud.items(REFERRER))


def test_referrers_queued_with_a_path_counted_by_origin_and_never_poison(cloud: Cloud) -> None:
    """Messages published before referrers were origins: a path, even one too long for a DynamoDB key."""
    records = [
        sqs_record(view_event(referrer="https://news.example/item")),
        sqs_record(view_event(referrer="https://x.example/" + "\u00e9" * 2000)),
        sqs_record(view_event(referrer="not a url")),  # nothing to count, not a failure
    ]
    assert failures(referrers.handler(sqs_event(records), None)) == []
    rows = {(r["referrer"]["S"], r["target"]["S"]): number(r, "views") for r in cloud.items(REFERRER)}
    assert rows == {("https://news.example", "post:hello-world"): 1, ("https://x.example", "post:hello-world"): 1}


def test_referrers_redelivery_counted_once(cloud: Cloud) -> None:
    event = sqs_event([sqs_record(view_event(referrer="https://a.example/"))])
    referrers.handler(event, None)
    referrers.handler(event, None)
    assert [number(r, "views") for r in cloud.items(REFERRER)] == [1]


def test_referrer_and_view_markers_do_not_collide(cloud: Cloud) -> None:
    body = view_event(referrer="https://a.example/")
    counter.handler(sqs_event([sqs_record(body)]), None)
    referrers.handler(sqs_event([sqs_record(body)]), None)
    assert counts(cloud) == (1, 1) and [number(r, "views") for r in cloud.items(REFERRER)] == [1]


def test_counter_event_older_than_its_marker_can_prove_is_refused_and_logged(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = sqs_record(view_event(receivedAt=now_ms() - MAX_EVENT_AGE_SECONDS * 1000 - 1))
    fresh = sqs_record(view_event(receivedAt=now_ms() - (MAX_EVENT_AGE_SECONDS - 3600) * 1000))
    assert failures(counter.handler(sqs_event([stale, fresh]), None)) == [stale["messageId"]]
    assert counts(cloud) == (1, 1) and len(cloud.items(COUNTED_EVENTS)) == 1
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "event_too_old" in x]
    assert line["purpose"] == "views" and line["events"] == 1 and line["maxAgeDays"] == 59
    assert set(line) == {"timestamp", "level", "event", "purpose", "events", "oldestAgeDays", "maxAgeDays"}


def test_counter_refused_old_event_reaches_the_dlq(cloud: Cloud) -> None:
    """A view redriven from the DLQ long after it was received: refused on every delivery,
    so SQS moves it back to the DLQ instead of counting it a second time."""
    body = json.dumps(view_event(receivedAt=now_ms() - 70 * 24 * 3600 * 1000))
    cloud.sqs.send_message(QueueUrl=cloud.queue_urls["post_view"], MessageBody=body)
    for _ in range(10):
        messages = cloud.receive("post_view")
        if not messages:
            break
        records = [sqs_record(m["Body"], m["MessageId"]) for m in messages]
        response = counter.handler(sqs_event(records), None)
        assert failures(response) == [m["MessageId"] for m in messages]  # left in the queue
    assert [m["Body"] for m in cloud.receive("post_view", dlq=True)] == [body]
    assert counts(cloud) == (0, 0) and cloud.items(COUNTED_EVENTS) == []


def test_referrers_refuse_old_events_too(cloud: Cloud) -> None:
    old = sqs_record(view_event(referrer="https://a.example/", receivedAt=now_ms() - 60 * 24 * 3600 * 1000))
    assert failures(referrers.handler(sqs_event([old]), None)) == [old["messageId"]]
    assert cloud.items(REFERRER) == []
