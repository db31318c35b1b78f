"""The local stack's own AWS calls, answered by moto in this process instead of over HTTP.

The handlers and pollers run in the same process as the emulator, yet each boto3 call
went to moto's server over loopback: a new TCP connection (moto's server closes every
connection after one response), a server thread, HTTP parsing, and a server-wide lock
around a lookup that lists moto's package directory on every request. That was most of
the local stack's time per view. Here a botocore `before-send` hook hands the signed
request to moto's own in-process dispatcher (the one `mock_aws` uses), which runs the
same responses and backends the server does: moto's backends are process-global, so
the server and this path share every table, queue and stream, and the patches in
local/moto_*.py apply to both. Nothing else changes: the request is built, signed,
retried and parsed by botocore as before, conditional writes, transactions and stream
records are moto's, and the `aws=` endpoint still serves external tools over HTTP.

Only requests for the emulator's endpoint and for the services listed here are taken;
anything else goes out as before.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

from local.emulator import REGION

HOST_PREFIXES = {
    # botocore's event name for a service (its hyphenated service id) -> AWS's host prefix
    "dynamodb": "dynamodb",
    "dynamodb-streams": "streams.dynamodb",
    "sns": "sns",
    "sqs": "sqs",
}
"""The services the handlers and pollers call; moto picks its backend and region by host."""
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[a-z0-9-]+)/")


def signed_region(authorization: str | bytes | None) -> str:
    """Pure: the region a SigV4 request was signed for (moto serves that region's backend)."""
    text = authorization.decode() if isinstance(authorization, bytes) else authorization or ""
    match = CREDENTIAL_SCOPE.search(text)
    return match["region"] if match else REGION


def aws_url(url: str, endpoint: str, host: str) -> str | None:
    """Pure: the request's URL on AWS's host, or None when it is not for the endpoint."""
    if url != endpoint and not url.startswith(endpoint.rstrip("/") + "/"):
        return None
    parts = urlsplit(url)
    return f"https://{host}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")


class InProcessMoto:
    """A botocore `before-send` handler: answers the endpoint's requests from moto's backends."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.stubber = BotocoreStubber()

    def __call__(self, event_name: str, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        prefix = HOST_PREFIXES.get(event_name.split(".")[1])
        if prefix is None:
            return None
        host = f"{prefix}.{signed_region(request.headers.get('Authorization'))}.amazonaws.com"
        url = aws_url(request.url, self.endpoint, host)
        if url is None:
            return None
        original_url = request.url
        request.url = url
        try:
            answer = self.stubber.process_request(request)
        finally:
            request.url = original_url
        if answer is None:
            return None  # moto has no handler for it: let the server answer
        status, headers, body = answer
        return AWSResponse(original_url, status, headers, MockRawResponse(body))


_MOTO_LOCK = threading.Lock()


def serialise_requests() -> None:
    """Answer one in-process DynamoDB request at a time (idempotent).

    moto's DynamoDB backend is not thread-safe: a Query iterating a table while a PutItem
    from another thread adds to it raises "dictionary changed size during iteration", and a
    conditional write is checked and applied in separate steps. AWS makes each request
    atomic; one lock around moto's dispatcher does the same here, for the local stack's
    threads (gateway, pollers, a function's concurrent calls) and for tests under mock_aws.
    Only DynamoDB and its streams: an SQS long poll waits inside moto, and holding the lock
    through it would stall every other call for up to 20 s.
    """
    if getattr(BotocoreStubber.process_request, "serialised", False):
        return
    unlocked: Callable[..., Any] = BotocoreStubber.process_request

    @functools.wraps(unlocked)
    def process_request(self: BotocoreStubber, request: Any) -> Any:
        if "dynamodb" not in (urlsplit(request.url).hostname or ""):
            return unlocked(self, request)
        with _MOTO_LOCK:
            return unlocked(self, request)

    process_request.serialised = True  # type: ignore[attr-defined]
    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]


def install(session: Any, endpoint: str) -> InProcessMoto:
    """Answer in-process every call of the clients created from `session` from now on.

    botocore copies a session's handlers into each client as it is created, so this must
    run before the handlers' and pollers' clients exist.
    """
    serialise_requests()
    handler = InProcessMoto(endpoint)
    session.events.register("before-send", handler)
    return handler
