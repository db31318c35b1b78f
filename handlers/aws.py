"""boto3 clients, created once per container on first use.

Created lazily rather than at import so tests can start moto first; the endpoint
comes from the settings (the local stack sets AWS_ENDPOINT_URL, AWS never does).
Timeouts are short and retries bounded, and `worst_case_seconds` says how long a call
can take at most, so a function that replies (views, stats) answers `unavailable`
before its own timeout instead of being cut off (tests/test_aws_timeouts.py holds the
wiring table's timeouts to it).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from handlers.settings import load_settings


class Timeouts(NamedTuple):
    """How long one AWS call may wait, and how often botocore tries it."""

    connect_seconds: float
    """TCP and TLS connect, per attempt."""
    read_seconds: float
    """Wait for the response, per attempt (per socket read: a trickling server can stretch it)."""
    attempts: int
    """Attempts in all, the first included (botocore's total_max_attempts)."""


# botocore's standard retry mode sleeps before retry n (n = 1, 2, ...) at most
# min(2 ** (n - 1), 20) s (throttling's base of 1 s; other errors wait less), and up to 5 s
# more when the reply carries x-amz-retry-after (botocore/retries/standard.py).
MAX_BACKOFF_SECONDS = 20.0
RETRY_AFTER_EXTRA_SECONDS = 5.0

TIMEOUTS = Timeouts(connect_seconds=1.0, read_seconds=2.0, attempts=2)


def backoff_seconds(attempts: int) -> float:
    """Pure: the longest botocore can sleep between `attempts` attempts."""
    return sum(min(2.0 ** (n - 1), MAX_BACKOFF_SECONDS) + RETRY_AFTER_EXTRA_SECONDS for n in range(1, attempts))


def worst_case_seconds(timeouts: Timeouts, calls: int) -> float:
    """Pure: the longest `calls` sequential AWS calls can take before the last one gives up."""
    per_call = timeouts.attempts * (timeouts.connect_seconds + timeouts.read_seconds) + backoff_seconds(
        timeouts.attempts
    )
    return calls * per_call


def botocore_config(timeouts: Timeouts) -> Config:
    return Config(
        connect_timeout=timeouts.connect_seconds,
        read_timeout=timeouts.read_seconds,
        # total_max_attempts, not max_attempts: botocore reads max_attempts as retries
        # after the first attempt, one more attempt than the name says.
        retries={"mode": "standard", "total_max_attempts": timeouts.attempts},
    )


@cache
def freeze_init_heap() -> None:
    """Take what the imports made (boto3's modules, botocore's loaded models, ours) out of
    the collector's sight, once per process.

    It lives as long as the container. Creating the first client allocates enough to start
    a full collection, which walked all of it: about 50 ms of a cold start
    (bench/coldstart.py), and again in every later full collection. Frozen objects are never
    collected, so this runs once, before the first client, not at every aws.reset().
    """
    gc.freeze()


@cache
def client(service: str) -> Any:
    freeze_init_heap()
    return boto3.client(service, endpoint_url=load_settings().endpoint_url, config=botocore_config(TIMEOUTS))


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="aws")


def concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent AWS calls side by side and return their results in order.

    They wait together, so a reply path's worst case counts them once (wiring's
    reply_calls). The first exception is raised after all have finished, so no call
    outlives the invocation that started it. Clients are made before: boto3's client
    creation is not thread-safe, its calls are.
    """
    futures = [_pool().submit(call) for call in calls]
    errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
    return [f.result() for f in futures]


def reset() -> None:
    """Forget cached clients and settings (tests and the local stack's restarts)."""
    client.cache_clear()
    load_settings.cache_clear()


def condition_failed(exc: ClientError) -> bool:
    """DynamoDB refused a write because its ConditionExpression did not hold."""
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def written(write: Callable[..., Any], **request: Any) -> bool:
    """Make a conditional DynamoDB write; False when its condition held it back (for a writer
    that only ever writes what is newer, that means done), any other error raised."""
    try:
        write(**request)
    except ClientError as exc:
        if condition_failed(exc):
            return False
        raise
    return True
