"""Alerts: one e-mail per post or page and hour at the threshold, whatever the stream replays."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from support.aws import Cloud
from support.events import post_item, stream_record
from support.faults import fail
from support.series import START

from handlers import alerts, aws, series
from handlers.settings import SettingsError, settings_from
from handlers.wiring import ENV_ALERT_TOPIC_ARN, ENV_ALERT_VIEWS_PER_HOUR, ENV_STACK, SERIES

THRESHOLD = 5
HOUR = 3600


@pytest.fixture
def inbox(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> str:
    """An alert topic with a queue standing in for the owner's mailbox; its URL."""
    topic = cloud.sns.create_topic(Name="test-alerts")["TopicArn"]
    url = cloud.sqs.create_queue(QueueName="test-inbox")["QueueUrl"]
    arn = cloud.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    cloud.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    monkeypatch.setenv(ENV_ALERT_TOPIC_ARN, topic)
    monkeypatch.setenv(ENV_ALERT_VIEWS_PER_HOUR, str(THRESHOLD))
    aws.reset()
    return str(url)


def mails(cloud: Cloud, url: str) -> list[dict[str, str]]:
    found = []
    while messages := cloud.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            body = json.loads(message["Body"])
            found.append({"subject": body.get("Subject", ""), "message": body["Message"]})
            cloud.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def post(total: int, sequence_number: int, at: int) -> dict[str, Any]:
    record = stream_record(post_item("hello", total), str(sequence_number))
    record["dynamodb"]["ApproximateCreationDateTime"] = at
    return record


def page(total: int, sequence_number: int, at: int) -> dict[str, Any]:
    image = {"pageName": {"S": "Home_Page"}, "totalViews": {"N": str(total)}, "uniqueViews": {"N": str(total)}}
    record = stream_record(image, str(sequence_number))
    record["dynamodb"].update(Keys={"pageName": image["pageName"]}, ApproximateCreationDateTime=at)
    return record


def referred(origin: str, before: int, after: int, at: int, sequence_number: int) -> dict[str, Any]:
    def item(views: int) -> dict[str, Any]:
        return {"referrer": {"S": origin}, "target": {"S": "post:hello"}, "views": {"N": str(views)}}

    record = stream_record(item(after), str(sequence_number))
    record["dynamodb"].update(OldImage=item(before), ApproximateCreationDateTime=at)
    return record


def handle(records: list[dict[str, Any]]) -> list[str]:
    return [f["itemIdentifier"] for f in series.handler({"Records": records}, None)["batchItemFailures"]]


def an_hour_that_takes_off(cloud: Cloud) -> list[dict[str, Any]]:
    """20 views by hour 0 (stored), then 7 in hour 1, one a record: the threshold (5) falls in hour 1."""
    cloud.put(
        SERIES,
        {"seriesKey": {"S": "post#hello"}, "bucket": {"S": "2026-11-28T00"}, "totalViews": {"N": "20"}},
    )
    return [post(20 + n, 1 + n, START + HOUR + n) for n in range(1, 8)]


def test_alerts_one_mail_when_a_post_reaches_the_threshold_within_an_hour(cloud: Cloud, inbox: str) -> None:
    handle(
        [
            referred("https://lobste.rs", 0, 1, START + HOUR, 100),
            referred("https://news.ycombinator.com", 4, 7, START + HOUR + 5, 101),
        ]
    )
    records = an_hour_that_takes_off(cloud)
    for record in records:
        assert handle([record]) == []
    (mail,) = mails(cloud, inbox)
    assert mail["subject"] == "5 views in an hour: Post hello"
    assert "Post hello reached 5 views between 01:00 and 01:59 UTC on 2026-11-28" in mail["message"]
    assert "Top referrer this hour: https://news.ycombinator.com (3 views this hour)" in mail["message"]


def test_alerts_replayed_redelivered_and_reordered_records_send_nothing_more(cloud: Cloud, inbox: str) -> None:
    records = an_hour_that_takes_off(cloud)
    assert handle(records[:3]) == [] and handle(records[:3]) == []  # redelivered batch, below threshold
    assert handle(records[3:]) == [] and handle(records[3:]) == []  # redelivered batch that crosses it
    assert len(mails(cloud, inbox)) == 1
    rng = random.Random(4)
    for _ in range(3):
        replayed = records + rng.sample(records, 4)
        rng.shuffle(replayed)
        assert handle(replayed[:5]) == [] and handle(replayed[5:]) == []
    assert mails(cloud, inbox) == []


def test_alerts_hour_below_threshold_sends_nothing_though_the_total_is_above(cloud: Cloud, inbox: str) -> None:
    assert handle([post(100, 1, START), post(104, 2, START + HOUR)]) == []
    assert [m["subject"] for m in mails(cloud, inbox)] == ["100 views in an hour: Post hello"]  # hour 0 only


def test_alerts_first_hour_counts_from_zero_and_pages_alert_too(cloud: Cloud, inbox: str) -> None:
    assert handle([page(2, 1, START), page(6, 2, START + 60)]) == []
    (mail,) = mails(cloud, inbox)
    assert mail["subject"] == "6 views in an hour: Page Home_Page"
    assert "Top referrer this hour: none recorded." in mail["message"]


def test_alerts_each_hour_alerts_once(cloud: Cloud, inbox: str) -> None:
    assert handle([post(5, 1, START)]) == []
    assert handle([post(10, 2, START + HOUR)]) == []
    assert handle([post(12, 3, START + HOUR + 1)]) == []
    assert [m["subject"] for m in mails(cloud, inbox)] == ["5 views in an hour: Post hello"] * 2


def test_alerts_failed_publish_is_retried_and_sent_once(cloud: Cloud, inbox: str) -> None:
    failed = fail(aws.client("sns"), "Publish", "InternalError", status=500, times=1)
    batch = [post(6, 7, START)]
    assert handle(batch) == ["7"]  # the stream retries the record
    assert mails(cloud, inbox) == []
    assert handle(batch) == [] and len(failed) == 1
    assert len(mails(cloud, inbox)) == 1
    assert handle(batch) == []
    assert mails(cloud, inbox) == []


def test_alerts_none_without_a_topic(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_ALERT_VIEWS_PER_HOUR, "1")
    aws.reset()
    sent = fail(aws.client("sns"), "Publish", "NeverCalled")
    assert handle([post(9, 1, START)]) == []
    assert sent == []


def test_alerts_subject_is_short_printable_ascii() -> None:
    rule = alerts.Rule("prod", "arn", 10)
    subject, body = alerts.message(rule, "post#" + "é" * 200, "2026-11-28T01", 12, None)
    assert len(subject) < 100 and subject.isascii() and subject.isprintable()
    assert "é" * 200 in body


@pytest.mark.parametrize("raw", ["five", "-1", "1.5", "٣"])
def test_alerts_threshold_setting_must_be_a_whole_number(raw: str) -> None:
    with pytest.raises(SettingsError, match=ENV_ALERT_VIEWS_PER_HOUR):
        settings_from({ENV_STACK: "test", ENV_ALERT_VIEWS_PER_HOUR: raw})


def test_alerts_off_unless_both_settings_are_given() -> None:
    settings = settings_from({ENV_STACK: "test"})
    assert (settings.alert_topic_arn, settings.alert_views_per_hour) == ("", 0)
