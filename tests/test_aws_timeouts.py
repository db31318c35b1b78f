"""The AWS calls of a replying function give up in time for it to answer `unavailable`."""

from __future__ import annotations

import importlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from support.aws import Cloud
from support.events import ws_message

from handlers import aws
from handlers.aws import TIMEOUTS, Timeouts, botocore_config, worst_case_seconds
from handlers.wiring import WIRING

API_GATEWAY_INTEGRATION_SECONDS = 29
"""API Gateway gives up on an integration after 29 s and the client gets no reply."""
COLD_START_SECONDS = 3
"""Lambda's init (imports, clients) comes before the handler, inside API Gateway's 29 s."""
REPLY_MARGIN_SECONDS = 1
"""Building, logging and returning the `unavailable` reply after the last call gave up."""

REPLYING = sorted({r.function for r in WIRING.routes if r.replies})


def test_aws_worst_case_adds_every_attempt_and_the_longest_backoff() -> None:
    # 2 attempts of (1 + 2) s, then at most 1 s of backoff and 5 s of x-amz-retry-after.
    assert worst_case_seconds(Timeouts(connect_seconds=1, read_seconds=2, attempts=2), calls=1) == 12
    assert worst_case_seconds(Timeouts(connect_seconds=1, read_seconds=2, attempts=2), calls=2) == 24
    assert worst_case_seconds(Timeouts(connect_seconds=1, read_seconds=2, attempts=1), calls=3) == 9


@pytest.mark.parametrize("name", REPLYING)
def test_aws_replying_function_answers_before_its_timeout(name: str) -> None:
    spec = WIRING.function(name)
    worst = worst_case_seconds(TIMEOUTS, spec.reply_calls)
    assert worst + REPLY_MARGIN_SECONDS <= spec.timeout_seconds, (
        f"{name}: {spec.reply_calls} calls may take {worst} s; Lambda stops it at {spec.timeout_seconds} s"
    )
    assert spec.timeout_seconds + COLD_START_SECONDS <= API_GATEWAY_INTEGRATION_SECONDS, name


@pytest.fixture
def silent_endpoint() -> Iterator[tuple[str, list[socket.socket]]]:
    """A TCP server on 127.0.0.1 that accepts every connection and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:  # closed at teardown
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    server.close()
    for connection in accepted:
        connection.close()
    thread.join(timeout=5)


def test_aws_call_to_a_silent_endpoint_gives_up_within_the_worst_case(
    silent_endpoint: tuple[str, list[socket.socket]],
) -> None:
    """The shipped attempts with small timeouts: each attempt waits for its read, then the call
    gives up; the bound is the configuration's own worst case (its connect time is never spent)."""
    url, accepted = silent_endpoint
    timeouts = TIMEOUTS._replace(connect_seconds=0.5, read_seconds=0.3)
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore_config(timeouts),
    )
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        ddb.get_item(TableName="t", Key={"k": {"S": "v"}})
    elapsed = time.monotonic() - started
    assert len(accepted) == TIMEOUTS.attempts, "botocore made a different number of attempts than configured"
    assert elapsed <= worst_case_seconds(timeouts, calls=1)


def _count_calls(services: tuple[str, ...]) -> list[str]:
    calls: list[str] = []
    for service in services:
        aws.client(service).meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    return calls


def _sequential_depth(calls: list[str], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Calls made side by side (aws.concurrently) wait together: each round counts as its
    longest branch. Returns a one-item list filled with the saved calls after the handler runs."""
    saved = [0]

    def in_rounds(*branches: Any) -> list[Any]:
        results, lengths = [], []
        for branch in branches:
            before = len(calls)
            results.append(branch())
            lengths.append(len(calls) - before)
        saved[0] += sum(lengths) - max(lengths, default=0)
        return results

    monkeypatch.setattr(aws, "concurrently", in_rounds)
    return saved


@pytest.mark.parametrize(
    ("function", "route", "body"),
    [
        ("views", "views", {"message": "views", "articleId": "a", "currentPage": "/posts/a"}),
        ("views", "views", {"message": "views", "currentPage": "/"}),
        ("stats", "stats", {"message": "stats", "articleIds": ["a", "b"]}),
        ("stats", "stats", {"message": "stats"}),
        ("watch", "watch", {"message": "watch", "articleIds": [f"a{i}" for i in range(49)], "pages": ["Home_Page"]}),
        ("watch", "watch", {"message": "watch"}),
    ],
)
def test_aws_replying_function_makes_at_most_its_declared_calls(
    cloud: Cloud, function: str, route: str, body: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wiring table's reply_calls is what the timeout is sized for: the code must not outgrow it."""
    calls = _count_calls(("dynamodb", "sns"))
    saved = _sequential_depth(calls, monkeypatch)
    module = importlib.import_module(WIRING.function(function).module)
    reply = json.loads(module.handler(ws_message(body, route=route), None)["body"])
    assert reply.get("message") != "error", reply
    assert 0 < len(calls) - saved[0] <= WIRING.function(function).reply_calls, calls
