"""Fault injection on a real boto3 client, through botocore's event hooks.

`fail(client, "TransactWriteItems", code)` answers matching calls with an AWS error
before they are sent (so nothing is written); `lose_response(client, op)` lets the
call commit and then makes botocore retry it as if the reply had been lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse


def _reply(status: int) -> AWSResponse:
    """An HTTP reply that never came from AWS (botocore reads only its status and headers)."""
    return AWSResponse(url="https://fault.invalid", status_code=status, headers={}, raw=None)


def fail(
    client: Any,
    operation: str,
    code: str,
    status: int = 400,
    when: Callable[[dict[str, Any]], bool] = lambda params: True,
    times: int | None = None,
) -> list[dict[str, Any]]:
    """Answer `operation` with error `code` while `when(api_params)` holds; returns the failed calls."""
    failed: list[dict[str, Any]] = []

    def hook(model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        body = params.get("body")
        request = json.loads(body) if isinstance(body, bytes | str) and body else dict(params)
        if (times is None or len(failed) < times) and when(request):
            failed.append(request)
            error = {
                "Error": {"Code": code, "Message": "injected fault"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }
            return _reply(status), error
        return None

    client.meta.events.register(f"before-call.{client.meta.service_model.service_name}.{operation}", hook)
    return failed


def lose_response(client: Any, operation: str, times: int = 1) -> list[int]:
    """After a call commits, tell botocore to send it again (a lost reply and an SDK retry)."""
    retried: list[int] = []

    def hook(attempts: int, **_: Any) -> float | None:
        if len(retried) < times:
            retried.append(attempts)
            return 0.0
        return None

    client.meta.events.register(f"needs-retry.{client.meta.service_model.service_name}.{operation}", hook)
    return retried


def idempotency_tokens(client: Any) -> list[str]:
    """DynamoDB's ClientRequestToken, which moto ignores: within its 10 minutes a token
    seen before is answered success without writing when the request is the same, and
    IdempotentParameterMismatchException when it is not. Returns the mismatched tokens."""
    seen: dict[str, str] = {}
    mismatched: list[str] = []

    def hook(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        request = json.loads(params["body"])
        token = request.get("ClientRequestToken")
        if token is None:
            return None
        body = json.dumps(request, sort_keys=True)
        if token not in seen:
            seen[token] = body
            return None
        if seen[token] == body:
            return _reply(200), {"ResponseMetadata": {"HTTPStatusCode": 200}}
        mismatched.append(token)
        error = {
            "Error": {"Code": "IdempotentParameterMismatchException", "Message": "token reused with other parameters"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return _reply(400), error

    client.meta.events.register(f"before-call.{client.meta.service_model.service_name}.TransactWriteItems", hook)
    return mismatched
