"""Lambda's event source mappings, locally: threads that drain queues and streams.

A queue poller long-polls with the QueueSpec's batch size and batching window,
deletes what the consumer accepted and leaves what it reported as failed, so moto's
redrive moves a poison message to the DLQ after maxReceiveCount deliveries.
A stream poller reads each shard in order and on a failure retries from the failed
record, a bounded number of times, then skips it (Lambda's retry limit, with bisection
having isolated that record) and, like Lambda, sends the skipped range's metadata to the
mapping's on-failure queue, where the repair consumer (a queue poller) picks it up.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from handlers.wiring import StreamSpec
from local.emulator import REGION, QueueResources
from local.functions import Functions, HandlerFailed, log
from local.records import failed_items, sequence_number, sqs_event, stream_event, stream_failure_record

# Long polls are short so that a stop request is honoured within about a second.
POLL_SECONDS = 1
SQS_MAX_MESSAGES = 10  # ReceiveMessage's own limit per call
IDLE_SECONDS = 0.2
SHARD_REFRESH_SECONDS = 5.0


class PolledQueue(Protocol):
    """What a queue poller needs of a queue's spec (a QueueSpec, or a stream's failure queue)."""

    @property
    def name(self) -> str: ...
    @property
    def function(self) -> str: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def max_batching_window_seconds(self) -> int: ...


@dataclass(frozen=True)
class FailureQueueFeed:
    """A stream's on-failure queue, drained by its repair function (StreamSpec.repair)."""

    name: str
    function: str
    batch_size: int
    max_batching_window_seconds: int = 0


def failure_queue_feed(spec: StreamSpec) -> FailureQueueFeed | None:
    if spec.repair is None:
        return None
    return FailureQueueFeed(spec.failure_queue, spec.repair.function, spec.repair.batch_size)


@dataclass(frozen=True)
class FailureDestination:
    """Where a stream poller sends what it skips: the mapping's on-failure queue."""

    sqs: Any
    queue_url: str


class QueuePoller(threading.Thread):
    def __init__(
        self, spec: PolledQueue, queue: QueueResources, sqs: Any, functions: Functions, stop: threading.Event
    ) -> None:
        super().__init__(name=f"sqs-{spec.name}", daemon=True)
        self.spec, self.queue, self.sqs, self.functions, self.stop = spec, queue, sqs, functions, stop

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                messages = self._collect()
                if messages:
                    self._deliver(messages)
            except (ClientError, BotoCoreError) as exc:
                if self.stop.is_set():
                    return  # the emulator is shutting down under us
                log("error", "queue_poll_failed", queue=self.spec.name, error=type(exc).__name__)
                self.stop.wait(POLL_SECONDS)

    def _receive(self, limit: int, wait_seconds: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue.url,
            MaxNumberOfMessages=min(SQS_MAX_MESSAGES, limit),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _collect(self) -> list[dict[str, Any]]:
        """One batch: up to batch_size messages, gathered for at most the batching window."""
        batch = self._receive(self.spec.batch_size, POLL_SECONDS)
        if not batch:
            return batch
        deadline = time.monotonic() + self.spec.max_batching_window_seconds
        while len(batch) < self.spec.batch_size and time.monotonic() < deadline and not self.stop.is_set():
            more = self._receive(self.spec.batch_size - len(batch), 0)
            batch += more
            if not more:
                self.stop.wait(IDLE_SECONDS)
        return batch

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        ids = [str(m["MessageId"]) for m in messages]
        try:
            result = self.functions.invoke(self.spec.function, sqs_event(messages, self.queue.arn, REGION))
            failed = failed_items(result, ids)
            if failed is None:
                log("error", "bad_batch_response", function=self.spec.function)
                failed = ids
        except HandlerFailed:
            failed = ids
        if failed:
            # Left in the queue: visible again after the visibility timeout, then redriven.
            log("warning", "batch_items_failed", queue=self.spec.name, failed=len(failed), batch=len(ids))
        done = [m for m in messages if m["MessageId"] not in set(failed)]
        for start in range(0, len(done), SQS_MAX_MESSAGES):
            chunk = done[start : start + SQS_MAX_MESSAGES]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )


class _Shard:
    def __init__(self, shard_id: str, iterator: str | None) -> None:
        self.shard_id = shard_id
        self.iterator = iterator
        self.pending: list[dict[str, Any]] = []
        self.attempts = 0
        self.gathering_since = 0.0
        """When the first record of the batch being gathered was read (batching window)."""


class StreamPoller(threading.Thread):
    def __init__(
        self,
        spec: StreamSpec,
        stream_arn: str,
        streams: Any,
        functions: Functions,
        stop: threading.Event,
        failures: FailureDestination | None = None,
    ) -> None:
        super().__init__(name=f"stream-{spec.table}", daemon=True)
        self.spec, self.stream_arn, self.streams = spec, stream_arn, streams
        self.functions, self.stop, self.failures = functions, stop, failures
        self.shards: dict[str, _Shard] = {}
        self._refreshed = 0.0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self._refresh_shards()
                busy = False
                for shard_id, shard in list(self.shards.items()):
                    busy |= self._step(shard_id, shard)
                if not busy:
                    self.stop.wait(IDLE_SECONDS)
            except (ClientError, BotoCoreError) as exc:
                if self.stop.is_set():
                    return
                log("error", "stream_poll_failed", table=self.spec.table, error=type(exc).__name__)
                self.stop.wait(POLL_SECONDS)

    def _refresh_shards(self) -> None:
        if time.monotonic() - self._refreshed < SHARD_REFRESH_SECONDS:
            return
        self._refreshed = time.monotonic()
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self.shards:
                iterator = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                self.shards[shard_id] = _Shard(shard_id, iterator)

    def _gathering(self, shard: _Shard) -> bool:
        """Within the mapping's batching window, a batch that is not full waits for more."""
        window = self.spec.maximum_batching_window_seconds
        return (
            window > 0
            and shard.attempts == 0
            and shard.iterator is not None
            and len(shard.pending) < self.spec.batch_size
            and time.monotonic() - shard.gathering_since < window
        )

    def _step(self, shard_id: str, shard: _Shard) -> bool:
        """Read (if nothing is pending, or while gathering) and deliver one batch; True when there was work."""
        if shard.iterator is not None and (not shard.pending or self._gathering(shard)):
            limit = self.spec.batch_size - len(shard.pending)
            response = self.streams.get_records(ShardIterator=shard.iterator, Limit=limit)
            records = list(response.get("Records", []))
            if records and not shard.pending:
                shard.gathering_since = time.monotonic()
            shard.pending += records
            shard.iterator = response.get("NextShardIterator")
        if not shard.pending:
            if shard.iterator is None:
                del self.shards[shard_id]  # a closed shard, fully read
            return False
        if self._gathering(shard):
            return False
        self._deliver(shard, shard.pending[: self.spec.batch_size])
        return True

    def _deliver(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        ids = [sequence_number(r) for r in records]
        try:
            result = self.functions.invoke(self.spec.function, stream_event(records, self.stream_arn, REGION))
            failed = failed_items(result, ids)
            if failed is None:
                log("error", "bad_batch_response", function=self.spec.function)
                failed = ids
        except HandlerFailed:
            failed = ids
        if not failed:
            shard.pending = shard.pending[len(records) :]
            shard.attempts = 0
            return
        # Records before the first failure are done; retry from the failed one, in order.
        shard.pending = shard.pending[ids.index(failed[0]) :]
        shard.attempts += 1
        if shard.attempts > self.spec.maximum_retry_attempts:
            self._send_failure(shard, shard.pending[:1], shard.attempts)  # before dropping: nothing is lost
            log("error", "stream_record_skipped", table=self.spec.table, sequenceNumber=failed[0])
            shard.pending = shard.pending[1:]
            shard.attempts = 0
            return
        self.stop.wait(min(0.1 * 2**shard.attempts, 2.0))

    def _send_failure(self, shard: _Shard, skipped: list[dict[str, Any]], invocations: int) -> None:
        """Lambda's on-failure destination: the skipped range's metadata, not its records."""
        if self.failures is None:
            return
        body = stream_failure_record(
            skipped,
            shard.shard_id,
            self.stream_arn,
            f"arn:aws:lambda:{REGION}:123456789012:function:local-{self.spec.function}",
            invocations,
            str(uuid.uuid4()),
            datetime.now(UTC),
        )
        self.failures.sqs.send_message(QueueUrl=self.failures.queue_url, MessageBody=json.dumps(body, default=str))
