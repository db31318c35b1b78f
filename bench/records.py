"""The lines the call recorder (bench/hooks/sitecustomize.py) writes, one JSON object each.

bench/cost.py prices them and bench/project.py synthesises them, so the three share these
shapes. The recorder names them for the type checker only: the stack's process never
imports bench.
"""

from __future__ import annotations

from typing import Literal, TypedDict


class CallDetails(TypedDict, total=False):
    """What a call is billed by: only the keys its service and operation have."""

    read: list[int]
    """DynamoDB: the size of each item read (GetItem, BatchGetItem)."""
    consistent: bool
    """DynamoDB GetItem: a strongly consistent read (twice the units)."""
    scanned: int
    """DynamoDB Scan or Query: the bytes read over the page."""
    write: list[int]
    """DynamoDB: the size of each item written (PutItem, UpdateItem, DeleteItem, BatchWriteItem)."""
    transact_write: list[tuple[str, int]]
    """DynamoDB TransactWriteItems: ("Put" | "Update" | ..., item size) per entry."""
    attributes: dict[str, str | None]
    """SNS Publish: the message attributes the subscriptions filter on."""
    bytes: int
    """SNS Publish: the message size (billed per 64 KB)."""
    messages: int
    """SQS ReceiveMessage: messages returned."""
    entries: int
    """SQS DeleteMessageBatch: entries deleted."""


class CallRecord(CallDetails):
    """One AWS API call made through botocore."""

    kind: Literal["call"]
    time: float
    """Epoch seconds when the call returned."""
    service: str
    op: str
    fn: str
    """The function whose handler made the call, or the thread's name (the pollers)."""
    status: int
    error: str | None
    retries: int
    """SDK retries: each is billed again."""


class BatchDetails(TypedDict, total=False):
    """A queue or stream batch given to a handler."""

    records: int
    keys: int
    """Distinct keys (articleId or page) the batch touches."""


class LogDetails(TypedDict, total=False):
    """What an invocation's code logged through handlers/log.py (CloudWatch bills the bytes)."""

    log_lines: int
    log_bytes: int
    """UTF-8 bytes of those lines, newlines included."""


class InvokeRecord(BatchDetails, LogDetails):
    """One call of a `handlers.*.handler`."""

    kind: Literal["invoke"]
    time: float
    """Epoch seconds when the handler returned."""
    fn: str
    ms: float


class HookErrorRecord(TypedDict):
    """Recording a call failed (the call itself went on)."""

    kind: Literal["hook_error"]
    error: str
    where: str


Record = CallRecord | InvokeRecord | HookErrorRecord
