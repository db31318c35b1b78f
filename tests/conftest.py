"""Fixtures for the handler tests; what they build lives in the plain modules of tests/support."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws
from support import grants
from support.aws import Cloud, build_cloud, fake_aws_environment, set_handler_environment, unbuilt_topic_arn

from handlers import aws as handler_clients
from local import in_process

# A function's side-by-side calls (handlers.aws.concurrently) reach moto from several
# threads; AWS answers each request atomically, and so must moto here.
in_process.serialise_requests()
# And AWS refuses a call the function's IAM grant does not allow, so here it fails the test.
grants.enforce()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_environment(monkeypatch)


@pytest.fixture
def handler_env(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The handlers' environment and an empty moto (no call can leave the machine), for
    tests whose handler decides without AWS: far cheaper than `cloud`."""
    with mock_aws():
        set_handler_environment(monkeypatch, unbuilt_topic_arn())
        yield
    handler_clients.reset()


@pytest.fixture
def cloud(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    """The stack's tables, topic and queues in moto, and the handlers pointed at them."""
    with mock_aws():
        yield build_cloud(monkeypatch)
    handler_clients.reset()
