"""The local stack's lazy SQS queue attributes: moto's values, without walking the queue per request."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sqs.models import Queue, sqs_backends
from support.aws import REGION, fake_aws_environment

from local import moto_sqs
from local.emulator import patched


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_environment(monkeypatch)
    with mock_aws():
        yield boto3.client("sqs")


def getter(attribute: object) -> Callable[[Queue], Any]:
    """A moto property's getter, as the class holds it (moto's types show it as a method)."""
    assert isinstance(attribute, property) and attribute.fget is not None
    return attribute.fget


def make_queues(sqs: Any) -> list[Queue]:
    """Every shape that changes moto's attribute names: plain, redrive, FIFO, KMS, a policy."""
    dlq = sqs.create_queue(QueueName="q-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    sqs.create_queue(QueueName="q-redrive", Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "30"})
    sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})
    sqs.create_queue(QueueName="q-kms", Attributes={"KmsMasterKeyId": "alias/aws/sqs", "Policy": policy})
    url = sqs.get_queue_url(QueueName="q-redrive")["QueueUrl"]
    for n in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
    sqs.send_message(QueueUrl=url, MessageBody="late", DelaySeconds=60)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)  # two in flight
    return list(sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues.values())


def test_moto_sqs_lazy_attributes_equal_motos_own(sqs: Any) -> None:
    queues = make_queues(sqs)
    assert len(queues) == 4
    for queue in queues:
        assert dict(moto_sqs.LazyAttributes(queue)) == getter(moto_sqs.MOTO_ATTRIBUTES)(queue), queue.name
    counts = dict(moto_sqs.LazyAttributes(sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues["q-redrive"]))
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == (3, 2)
    assert counts["ApproximateNumberOfMessagesDelayed"] == 1


def test_moto_sqs_answers_the_same_through_the_api(sqs: Any) -> None:
    make_queues(sqs)
    urls = sqs.list_queues()["QueueUrls"]
    before = {url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"] for url in urls}
    with patched(moto_sqs.PATCHES):
        after = {url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"] for url in urls}
        one = sqs.get_queue_attributes(QueueUrl=urls[0], AttributeNames=["QueueArn"])["Attributes"]
    assert after == before
    assert one == {"QueueArn": before[urls[0]]["QueueArn"]}


def test_moto_sqs_send_and_receive_no_longer_count_the_queue(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """What made a backlog slow every request: each one walked every queued message."""
    walks: list[str] = []
    counted = getter(Queue.approximate_number_of_messages)

    def walking(queue: Queue) -> Any:
        walks.append(queue.name)
        return counted(queue)

    monkeypatch.setattr(Queue, "approximate_number_of_messages", property(walking))
    url = sqs.create_queue(QueueName="backlog")["QueueUrl"]

    def traffic() -> None:
        for n in range(20):
            sqs.send_message(QueueUrl=url, MessageBody=str(n))
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    traffic()
    assert len(walks) >= 30, "moto as shipped walks the queue per send and per received message"
    walks.clear()
    with patched(moto_sqs.PATCHES):
        traffic()
    assert walks == []
