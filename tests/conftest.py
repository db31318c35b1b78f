"""Shared fixtures: moto resources built from the wiring table, and AWS event factories."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handlers import aws as handler_clients
from handlers.wiring import (
    ENV_ALLOWED_ORIGINS,
    ENV_STACK,
    ENV_TOPIC_ARN,
    WIRING,
    create_table_request,
    physical_table_name,
    queue_name,
    topic_name,
)

EVENTS = Path(__file__).parent / "events"
STACK = "test"
REGION = "eu-west-1"
BLOG_ORIGIN = "https://blog.example.com"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def fake_aws_environment(patch: pytest.MonkeyPatch) -> None:
    """Credentials and region for moto; nothing that could reach a real account or endpoint."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }.items():
        patch.setenv(name, value)
    patch.delenv("AWS_ENDPOINT_URL", raising=False)
    patch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_environment(monkeypatch)


@dataclass
class Cloud:
    """The moto resources of one stack, created from the wiring table."""

    ddb: Any
    sns: Any
    sqs: Any
    streams: Any
    topic_arn: str
    queue_urls: dict[str, str]
    dlq_urls: dict[str, str]

    def table(self, name: str) -> str:
        return physical_table_name(STACK, name)

    def item(self, table: str, **key: str) -> dict[str, Any]:
        response = self.ddb.get_item(
            TableName=self.table(table), Key={k: {"S": v} for k, v in key.items()}, ConsistentRead=True
        )
        return dict(response.get("Item", {}))

    def items(self, table: str) -> list[dict[str, Any]]:
        return list(self.ddb.scan(TableName=self.table(table), ConsistentRead=True)["Items"])

    def receive(self, queue: str, dlq: bool = False) -> list[dict[str, Any]]:
        url = (self.dlq_urls if dlq else self.queue_urls)[queue]
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return list(messages.get("Messages", []))


def _create(ddb: Any, sns: Any, sqs: Any) -> tuple[str, dict[str, str], dict[str, str]]:
    for spec in WIRING.tables:
        ddb.create_table(**create_table_request(spec, STACK))
        if spec.ttl_attribute:
            ddb.update_time_to_live(
                TableName=physical_table_name(STACK, spec.name),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
    topic_arn = sns.create_topic(Name=topic_name(STACK))["TopicArn"]
    queue_urls, dlq_urls = {}, {}
    for queue in WIRING.queues:
        dlq_url = sqs.create_queue(QueueName=queue_name(STACK, queue.name, dlq=True))["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(queue.max_receive_count)}
        url = sqs.create_queue(
            QueueName=queue_name(STACK, queue.name),
            Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": "0"},
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"FilterPolicy": json.dumps(queue.filter_policy), "RawMessageDelivery": "true"},
        )
        queue_urls[queue.name], dlq_urls[queue.name] = url, dlq_url
    return topic_arn, queue_urls, dlq_urls


def build_cloud(patch: pytest.MonkeyPatch) -> Cloud:
    """Inside mock_aws: the stack's resources, and the handlers' environment pointing at them."""
    ddb, sns, sqs = (boto3.client(s, region_name=REGION) for s in ("dynamodb", "sns", "sqs"))
    topic_arn, queue_urls, dlq_urls = _create(ddb, sns, sqs)
    patch.setenv(ENV_STACK, STACK)
    patch.setenv(ENV_TOPIC_ARN, topic_arn)
    patch.setenv(ENV_ALLOWED_ORIGINS, json.dumps([BLOG_ORIGIN]))
    handler_clients.reset()
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    return Cloud(ddb, sns, sqs, streams, topic_arn, queue_urls, dlq_urls)


@pytest.fixture
def cloud(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    with mock_aws():
        yield build_cloud(monkeypatch)
    handler_clients.reset()


# ---- event factories (real AWS shapes, from the samples in tests/events) -----------


def now_ms() -> int:
    """Events are stamped now, as API Gateway does: the counters refuse views older than
    their markers can prove (handlers/ledger.py), so a fixed date would age out."""
    return time.time_ns() // 1_000_000


def ws_message(
    body: str | dict[str, Any], route: str = "views", message_id: str | None = None, received_at_ms: int | None = None
) -> dict[str, Any]:
    event = sample("ws_message")
    event["requestContext"]["routeKey"] = route
    event["requestContext"]["messageId"] = message_id or uuid.uuid4().hex[:16]
    event["requestContext"]["requestTimeEpoch"] = now_ms() if received_at_ms is None else received_at_ms
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def ws_connect(origin: str | None, header_name: str = "Origin") -> dict[str, Any]:
    event = sample("ws_connect")
    event["headers"].pop("Origin")
    event["multiValueHeaders"].pop("Origin")
    if origin is not None:
        event["headers"][header_name] = origin
        event["multiValueHeaders"][header_name] = [origin]
    return event


def sqs_record(body: str | dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    record = sample("sqs_record")
    record["messageId"] = message_id or str(uuid.uuid4())
    record["body"] = body if isinstance(body, str) else json.dumps(body)
    return record


def sqs_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}


def stream_record(image: dict[str, Any] | None, sequence_number: str, event_name: str = "MODIFY") -> dict[str, Any]:
    record = copy.deepcopy(sample("stream_record"))
    record["eventName"] = event_name
    record["dynamodb"]["SequenceNumber"] = sequence_number
    if image is None:
        record["dynamodb"].pop("NewImage")
    else:
        record["dynamodb"]["NewImage"] = image
        record["dynamodb"]["Keys"] = {"articleId": image.get("articleId", {"S": ""})}
    return record


def view_event(event_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A published ViewEvent body; a post view of `hello-world` unless told otherwise."""
    event: dict[str, Any] = {
        "eventId": event_id or uuid.uuid4().hex,
        "eventType": "post_view",
        "receivedAt": now_ms(),
        "unique": True,
        "articleId": "hello-world",
        "articleTitle": "Hello World",
    }
    event.update(fields)
    return {k: v for k, v in event.items() if v is not None}
