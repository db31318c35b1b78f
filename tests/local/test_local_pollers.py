"""The stream poller's retry rules and the queue poller's delete rules, with fake AWS clients."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from support.events import post_item, stream_record

from handlers.wiring import WIRING, QueueSpec, StreamSpec
from local.emulator import QueueResources
from local.functions import Functions
from local.pollers import FailureDestination, QueuePoller, StreamPoller

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/local-PostCountWriter/stream/x"


def record(seq: str) -> dict[str, Any]:
    return stream_record(post_item(f"a{seq}", 1), seq, event_name="INSERT")


class FakeStreams:
    """One shard holding the given records, read once from TRIM_HORIZON."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-0"}]}}

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        return {"ShardIterator": "start"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        if ShardIterator == "start":
            return {"Records": self.records[:Limit], "NextShardIterator": "end"}
        return {"Records": [], "NextShardIterator": "end"}


class Consumer:
    """A fake replicate handler: records each batch's sequence numbers, fails as told."""

    def __init__(self, fail: dict[str, int] | None = None, crash_times: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.fail = dict(fail or {})
        self.crash_times = crash_times

    def __call__(self, event: dict[str, Any], context: object) -> dict[str, Any]:
        seqs = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        self.batches.append(seqs)
        assert all(r["eventSourceARN"] == STREAM_ARN for r in event["Records"])
        if self.crash_times:
            self.crash_times -= 1
            raise RuntimeError("boom")
        failed = [s for s in seqs if self.fail.get(s, 0) > 0]
        for s in failed:
            self.fail[s] -= 1
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failed[:1]]}


class SentMessages:
    """A fake SQS client for the on-failure queue: keeps what was sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def send_message(self, QueueUrl: str, MessageBody: str) -> None:
        assert QueueUrl == "http://failures"
        self.bodies.append(json.loads(MessageBody))


def drain(
    consumer: Consumer,
    records: list[dict[str, Any]],
    retries: int = 5,
    steps: int = 20,
    sent: SentMessages | None = None,
) -> None:
    spec = StreamSpec("PostCountWriter", "replicate", batch_size=100, maximum_retry_attempts=retries)
    stop = threading.Event()
    stop.set()  # backoff waits return at once
    failures = FailureDestination(sent, "http://failures") if sent is not None else None
    functions = Functions(WIRING, {"replicate": consumer})
    poller = StreamPoller(spec, STREAM_ARN, FakeStreams(records), functions, stop, failures)
    poller._refresh_shards()
    for _ in range(steps):
        for shard_id, shard in list(poller.shards.items()):
            poller._step(shard_id, shard)


def test_stream_poller_delivers_in_order_once() -> None:
    consumer = Consumer()
    drain(consumer, [record("1"), record("2"), record("3")])
    assert consumer.batches == [["1", "2", "3"]]


def test_stream_poller_retries_from_the_failed_record() -> None:
    consumer = Consumer(fail={"2": 2})
    drain(consumer, [record("1"), record("2"), record("3")])
    assert consumer.batches == [["1", "2", "3"], ["2", "3"], ["2", "3"]]


def test_stream_poller_skips_a_record_after_the_retry_limit(capsys: pytest.CaptureFixture[str]) -> None:
    consumer = Consumer(fail={"2": 100})
    drain(consumer, [record("1"), record("2"), record("3")], retries=2)
    assert consumer.batches == [["1", "2", "3"], ["2", "3"], ["2", "3"], ["3"]]
    assert '"event":"stream_record_skipped"' in capsys.readouterr().err


def test_stream_poller_sends_what_it_skips_to_the_on_failure_queue_as_lambda_does() -> None:
    sent = SentMessages()
    drain(Consumer(fail={"2": 100}), [record("1"), record("2"), record("3")], retries=2, sent=sent)
    [body] = sent.bodies
    expected = json.loads((Path(__file__).parents[1] / "events" / "stream_failure.json").read_text())
    assert set(body) == set(expected) and set(body["DDBStreamBatchInfo"]) == set(expected["DDBStreamBatchInfo"])
    info = body["DDBStreamBatchInfo"]
    assert (info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"]) == ("shard-0", "2", "2")
    assert (info["batchSize"], info["streamArn"]) == (1, STREAM_ARN)
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == 3


def test_stream_poller_handler_crash_retries_the_whole_batch() -> None:
    consumer = Consumer(crash_times=1)
    drain(consumer, [record("1"), record("2")])
    assert consumer.batches == [["1", "2"], ["1", "2"]]


class FakeSqs:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> None:
        assert len(Entries) <= 10
        self.deleted += [e["ReceiptHandle"] for e in Entries]


def message(i: int) -> dict[str, Any]:
    return {"MessageId": f"m{i}", "ReceiptHandle": f"rh{i}", "Body": "{}", "Attributes": {}}


def deliver(handler: Any, count: int) -> FakeSqs:
    sqs = FakeSqs()
    queue = QueueResources("post_view", "http://q", "arn:aws:sqs:us-east-1:1:local-post_view", "http://dlq")
    spec = QueueSpec("post_view", {}, "post-counter", batch_size=count)
    poller = QueuePoller(spec, queue, sqs, Functions(WIRING, {"post-counter": handler}), threading.Event())
    poller._deliver([message(i) for i in range(count)])
    return sqs


def test_queue_poller_deletes_all_but_the_failed() -> None:
    sqs = deliver(lambda event, ctx: {"batchItemFailures": [{"itemIdentifier": "m3"}]}, 12)
    assert sqs.deleted == [f"rh{i}" for i in range(12) if i != 3]


def test_queue_poller_keeps_everything_when_the_handler_crashes() -> None:
    def crash(event: dict[str, Any], context: object) -> Any:
        raise RuntimeError("boom")

    assert deliver(crash, 3).deleted == []


def test_queue_poller_keeps_everything_on_an_unreadable_reply() -> None:
    assert deliver(lambda event, ctx: {"batchItemFailures": [{"itemIdentifier": "nope"}]}, 3).deleted == []


class TricklingStreams(FakeStreams):
    """One record per GetRecords, as a quiet shard hands them out; then the shard closes."""

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        position = 0 if ShardIterator == "start" else int(ShardIterator)
        following = str(position + 1) if position + 1 < len(self.records) else None
        return {"Records": self.records[position : position + 1][:Limit], "NextShardIterator": following}


def trickle(window: int, batch_size: int, count: int) -> list[list[str]]:
    consumer = Consumer()
    spec = StreamSpec("PostCountWriter", "replicate", batch_size=batch_size, maximum_batching_window_seconds=window)
    functions = Functions(WIRING, {"replicate": consumer})
    records = [record(str(i)) for i in range(1, count + 1)]
    poller = StreamPoller(spec, STREAM_ARN, TricklingStreams(records), functions, threading.Event())
    poller._refresh_shards()
    for _ in range(3 * count):
        for shard_id, shard in list(poller.shards.items()):
            poller._step(shard_id, shard)
    return consumer.batches


def test_stream_poller_without_a_window_delivers_what_each_read_returns() -> None:
    assert trickle(window=0, batch_size=3, count=4) == [["1"], ["2"], ["3"], ["4"]]


def test_stream_poller_window_gathers_a_full_batch_and_a_closed_shard_ends_it() -> None:
    # A window far longer than the test: only a full batch or the shard's end delivers.
    assert trickle(window=3600, batch_size=3, count=4) == [["1", "2", "3"], ["4"]]
