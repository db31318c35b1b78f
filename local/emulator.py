"""The embedded AWS: moto in server mode, and the resources the wiring table names.

Everything is created from `handlers.wiring.WIRING`, the table `components/` reads
too, so the local stack cannot drift from what `pulumi up` builds.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from handlers.wiring import (
    ENV_ALLOWED_ORIGINS,
    ENV_ENDPOINT_URL,
    ENV_STACK,
    ENV_TOPIC_ARN,
    Wiring,
    create_table_request,
    physical_table_name,
    queue_name,
    topic_name,
)
from local import moto_sqs, moto_transactions

Patch = tuple[object, str, object]
"""(owner, attribute, replacement): one fix to moto, set on its module or class."""
MOTO_FIXES: list[Patch] = [*moto_transactions.PATCHES, *moto_sqs.PATCHES]
"""What keeps moto's cost per request flat as tables and queues grow (see each module)."""

STACK = "local"
REGION = "us-east-1"
# Locally a failed message comes back after 2 s rather than AWS's 6x the function
# timeout, so a poison message reaches its DLQ in seconds, not minutes.
VISIBILITY_TIMEOUT_SECONDS = 2

# moto accepts any credentials; fixed fake ones keep a developer's real profile
# (and its account) out of the local stack.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}


@dataclass(frozen=True)
class QueueResources:
    name: str
    url: str
    arn: str
    dlq_url: str


@dataclass(frozen=True)
class Resources:
    endpoint: str
    topic_arn: str
    queues: dict[str, QueueResources]
    """By QueueSpec.name."""
    streams: dict[str, str]
    """Stream ARN by logical table name."""
    failure_queues: dict[str, QueueResources] = field(default_factory=dict)
    """Each stream mapping's on-failure queue, by StreamSpec.failure_queue."""


def handler_environment(
    endpoint: str, topic_arn: str, allowed_origins: list[str], stack: str = STACK
) -> dict[str, str]:
    """Pure: the environment the handlers read once, on first use (handlers/settings.py)."""
    return {
        **FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        # Current boto3 derives an account-specific endpoint for DynamoDB and its
        # streams unless told not to; moto serves only the plain one.
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        ENV_STACK: stack,
        ENV_ENDPOINT_URL: endpoint,
        ENV_TOPIC_ARN: topic_arn,
        ENV_ALLOWED_ORIGINS: json.dumps(list(dict.fromkeys(allowed_origins))),
    }


def apply_environment(env: Mapping[str, str], target: MutableMapping[str, str] = os.environ) -> None:
    # A developer's AWS_PROFILE would make boto3 prefer a real profile's settings.
    target.pop("AWS_PROFILE", None)
    target.update(env)


def install_patches(patches: Iterable[Patch]) -> None:
    """For the rest of this process: the local stack's emulator runs in it."""
    for owner, name, value in patches:
        setattr(owner, name, value)


@contextmanager
def patched(patches: Iterable[Patch]) -> Iterator[None]:
    """For the duration of a block (tests), then moto as it was."""
    with ExitStack() as stack:
        for owner, name, value in patches:
            stack.enter_context(mock.patch.object(owner, name, value))
        yield


def start_server(port: int = 0) -> tuple[ThreadedMotoServer, str]:
    """moto on 127.0.0.1 (never on all interfaces: it accepts any credentials)."""
    # werkzeug logs every request (hundreds a minute with long polling) at INFO.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    install_patches(MOTO_FIXES)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    return server, f"http://{host}:{bound}"


def client(service: str, endpoint: str, max_attempts: int = 3) -> Any:
    """A boto3 client on the emulator, with its fake credentials (never a developer's profile)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"mode": "standard", "max_attempts": max_attempts}),
    )


def _queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def create_resources(wiring: Wiring, endpoint: str, stack: str = STACK) -> Resources:
    """Topic, queues with DLQs and filtered raw subscriptions, tables with streams and TTL."""
    ddb, sns, sqs = (client(s, endpoint) for s in ("dynamodb", "sns", "sqs"))
    return create_resources_with(ddb, sns, sqs, wiring, stack, endpoint=endpoint)


def create_resources_with(
    ddb: Any,
    sns: Any,
    sqs: Any,
    wiring: Wiring,
    stack: str,
    endpoint: str = "",
    visibility_timeout: int = VISIBILITY_TIMEOUT_SECONDS,
) -> Resources:
    """create_resources with the caller's clients: the tests' in-process moto uses this too,
    so their resources are the local stack's (only the visibility timeout may differ)."""
    streams: dict[str, str] = {}
    for spec in wiring.tables:
        table = physical_table_name(stack, spec.name)
        created = ddb.create_table(**create_table_request(spec, stack))["TableDescription"]
        if spec.ttl_attribute:
            ddb.update_time_to_live(
                TableName=table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
        if spec.stream:
            streams[spec.name] = str(created["LatestStreamArn"])

    topic_arn = str(sns.create_topic(Name=topic_name(stack))["TopicArn"])
    queues: dict[str, QueueResources] = {}
    for queue in wiring.queues:
        created = _queue_with_dlq(sqs, stack, queue.name, queue.max_receive_count, visibility_timeout)
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=created.arn,
            Attributes={"FilterPolicy": json.dumps(queue.filter_policy), "RawMessageDelivery": "true"},
        )
        queues[queue.name] = created
    # Each stream mapping's on-failure destination, as components/count_store.py builds it.
    failure_queues = {
        s.failure_queue: _queue_with_dlq(
            sqs, stack, s.failure_queue, s.repair.max_receive_count if s.repair else 0, visibility_timeout
        )
        for s in wiring.streams
    }
    return Resources(endpoint, topic_arn, queues, streams, failure_queues)


def _queue_with_dlq(sqs: Any, stack: str, name: str, max_receive_count: int, visibility_timeout: int) -> QueueResources:
    """A queue redriving to `<name>-dlq` after max_receive_count deliveries (0: no DLQ)."""
    dlq_url = ""
    attributes = {"VisibilityTimeout": str(visibility_timeout)}
    if max_receive_count:
        dlq_url = sqs.create_queue(QueueName=queue_name(stack, name, dlq=True))["QueueUrl"]
        redrive = {"deadLetterTargetArn": _queue_arn(sqs, dlq_url), "maxReceiveCount": str(max_receive_count)}
        attributes["RedrivePolicy"] = json.dumps(redrive)
    url = sqs.create_queue(QueueName=queue_name(stack, name), Attributes=attributes)["QueueUrl"]
    return QueueResources(name, url, _queue_arn(sqs, url), dlq_url)
