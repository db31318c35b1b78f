"""moto resources for the handler tests, created by the local stack's own code.

`build_cloud` runs local/emulator.py's resource creation against in-process moto, so the
tests' tables, topic, queues and on-failure queues are the local stack's, which are the
wiring table's. `set_handler_environment` alone is what a handler needs to run at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from handlers import aws as handler_clients
from handlers.wiring import (
    ENV_ALLOWED_ORIGINS,
    ENV_STACK,
    ENV_TOPIC_ARN,
    POST_COUNT_WRITER,
    WIRING,
    physical_table_name,
    topic_name,
)
from local.emulator import Resources, create_resources_with
from local.launcher import scan

STACK = "test"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
"""moto's default account."""
BLOG_ORIGIN = "https://blog.example.com"
# In-process moto: a failed message is visible again at once, so a test sees its
# redelivery (and its way to the DLQ) without waiting.
VISIBILITY_TIMEOUT_SECONDS = 0


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


def set_handler_environment(patch: pytest.MonkeyPatch, topic_arn: str) -> None:
    """What the handlers read at first use (handlers/settings.py), and fresh clients to read it."""
    patch.setenv(ENV_STACK, STACK)
    patch.setenv(ENV_TOPIC_ARN, topic_arn)
    patch.setenv(ENV_ALLOWED_ORIGINS, json.dumps([BLOG_ORIGIN]))
    handler_clients.reset()


def unbuilt_topic_arn() -> str:
    """The stack's topic ARN, for handlers that never publish (no topic is made)."""
    return f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic_name(STACK)}"


@dataclass(frozen=True)
class Stream:
    arn: str
    shards: list[str]
    records: list[dict[str, Any]]
    """Every record, in the order of its shard, as Lambda receives them."""


@dataclass
class Cloud:
    """The moto resources of one stack, as the local stack creates them."""

    ddb: Any
    sns: Any
    sqs: Any
    streams: Any
    resources: Resources

    @property
    def topic_arn(self) -> str:
        return self.resources.topic_arn

    @property
    def queue_urls(self) -> dict[str, str]:
        """Each event queue's URL, by QueueSpec.name."""
        return {name: q.url for name, q in self.resources.queues.items()}

    @property
    def dlq_urls(self) -> dict[str, str]:
        return {name: q.dlq_url for name, q in self.resources.queues.items()}

    def table(self, name: str) -> str:
        return physical_table_name(STACK, name)

    def item(self, table: str, **key: str) -> dict[str, Any]:
        response = self.ddb.get_item(
            TableName=self.table(table), Key={k: {"S": v} for k, v in key.items()}, ConsistentRead=True
        )
        return dict(response.get("Item", {}))

    def items(self, table: str) -> list[dict[str, Any]]:
        return scan(self.ddb, self.table(table))

    def put(self, table: str, *items: dict[str, Any]) -> None:
        """Rows written directly, as if counted earlier (25 to a request, DynamoDB's limit)."""
        for start in range(0, len(items), 25):
            puts = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            self.ddb.batch_write_item(RequestItems={self.table(table): puts})

    def receive(self, queue: str, dlq: bool = False) -> list[dict[str, Any]]:
        url = (self.dlq_urls if dlq else self.queue_urls)[queue]
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return list(messages.get("Messages", []))

    def stream(self, table: str = POST_COUNT_WRITER) -> Stream:
        """What a table's stream holds, read from the start of every shard."""
        arn = self.ddb.describe_table(TableName=self.table(table))["Table"]["LatestStreamArn"]
        shards = [s["ShardId"] for s in self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]]
        records: list[dict[str, Any]] = []
        for shard in shards:
            iterator = self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
                "ShardIterator"
            ]
            while iterator:
                page = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                if not page["Records"]:
                    break
                records += page["Records"]
                iterator = page.get("NextShardIterator")
        for record in records:
            record["dynamodb"]["ApproximateCreationDateTime"] = 0  # a datetime from boto3; a number in Lambda
        return Stream(arn, shards, records)


def build_cloud(patch: pytest.MonkeyPatch) -> Cloud:
    """Inside mock_aws: the stack's resources, and the handlers' environment pointing at them."""
    ddb, sns, sqs, streams = (
        boto3.client(s, region_name=REGION) for s in ("dynamodb", "sns", "sqs", "dynamodbstreams")
    )
    resources = create_resources_with(ddb, sns, sqs, WIRING, STACK, visibility_timeout=VISIBILITY_TIMEOUT_SECONDS)
    set_handler_environment(patch, resources.topic_arn)
    return Cloud(ddb, sns, sqs, streams, resources)
