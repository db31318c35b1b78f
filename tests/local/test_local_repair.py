"""The local stack gives up on stream records as Lambda does, and the repair consumer catches up.

An in-process moto server with the resources the local stack makes (emulator.create_resources),
the real handlers, and a replicate that always fails: the stream poller skips each record
after its retries and sends the skipped range's metadata to the on-failure queue; the
failure queue's poller runs replicate-repair, and the reader ends equal to the writer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from moto.server import ThreadedMotoServer
from support.events import sqs_event, sqs_record, view_event

from handlers import aws
from handlers.wiring import POST_COUNT_READER, POST_COUNT_WRITER, WIRING, physical_table_name
from local import emulator
from local.functions import Functions
from local.pollers import FailureDestination, QueuePoller, StreamPoller, failure_queue_feed

STACK = "repairtest"
SPEC = WIRING.streams[0]


@pytest.fixture
def local_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[emulator.Resources]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        resources = emulator.create_resources(WIRING, endpoint, stack=STACK)
        env = emulator.handler_environment(endpoint, resources.topic_arn, [], stack=STACK)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        aws.reset()
        yield resources
    finally:
        aws.reset()
        server.stop()


def items(resources: emulator.Resources, table: str) -> dict[str, dict[str, Any]]:
    ddb = emulator.client("dynamodb", resources.endpoint)
    found = ddb.scan(TableName=physical_table_name(STACK, table), ConsistentRead=True)["Items"]
    return {i["articleId"]["S"]: i for i in found}


def always_failing(event: dict[str, Any], context: object) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in event["Records"]]}


def test_local_skipped_stream_records_reach_the_failure_queue_and_are_repaired(
    local_aws: emulator.Resources,
) -> None:
    functions = Functions.load(WIRING)
    for article, views in (("a", 3), ("b", 2)):
        event = sqs_event([sqs_record(view_event(articleId=article)) for _ in range(views)])
        assert functions.invoke("post-counter", event) == {"batchItemFailures": []}
    stop = threading.Event()
    stop.set()  # backoff waits return at once
    failing = Functions(WIRING, {**functions.handlers, SPEC.function: always_failing})
    sqs = emulator.client("sqs", local_aws.endpoint)
    failure_queue = local_aws.failure_queues[SPEC.failure_queue]
    stream = StreamPoller(
        SPEC,
        local_aws.streams[SPEC.table],
        emulator.client("dynamodbstreams", local_aws.endpoint),
        failing,
        stop,
        FailureDestination(sqs, failure_queue.url),
    )
    stream._refresh_shards()
    for _ in range(100):
        if not any(stream._step(shard_id, shard) for shard_id, shard in list(stream.shards.items())):
            break
    assert items(local_aws, POST_COUNT_READER) == {}, "replicate was meant to fail"

    feed = failure_queue_feed(SPEC)
    assert feed is not None
    repair = QueuePoller(feed, failure_queue, sqs, functions, stop)
    messages = repair._collect()
    bodies = [json.loads(m["Body"]) for m in messages]
    assert bodies and all(b["requestContext"]["condition"] == "RetryAttemptsExhausted" for b in bodies)
    assert all("Records" not in b and "payload" not in b for b in bodies), "metadata only, as AWS sends"
    while messages:
        repair._deliver(messages)
        messages = repair._collect()
    assert items(local_aws, POST_COUNT_READER) == items(local_aws, POST_COUNT_WRITER)
    attributes = sqs.get_queue_attributes(QueueUrl=failure_queue.url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
