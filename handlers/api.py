"""The API Gateway WebSocket envelope: parsing requests apart from our payload, and responses.

Kept free of pydantic: $connect, $disconnect and $default need only this module, so
their cold start pays for boto3-free JSON handling and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, NotRequired, TypedDict

# API Gateway refuses frames over 32 KB itself; a views or stats message is far
# smaller, so anything near the limit is refused before it is parsed.
MAX_BODY_BYTES = 32 * 1024

ErrorCode = Literal[
    "invalid_json",
    "invalid_event",
    "unknown_route",
    "unknown_page",
    "too_large",
    "unavailable",
    "rate_limited",  # more views on one connection than the stack allows (ARCHITECTURE 3.1.2); not retried
    "unsigned_post",  # a post view without a valid articleSig on a stack that signs posts; not retried
]


class WebSocketResponse(TypedDict):
    statusCode: int
    body: NotRequired[str]


def error_body(code: ErrorCode, detail: str | None = None) -> str:
    """`{"message":"error","error":...,"detail":...}`, byte-for-byte as schema.ErrorReply dumps it."""
    reply = {"message": "error", "error": code} | ({"detail": detail} if detail is not None else {})
    return json.dumps(reply, ensure_ascii=False, separators=(",", ":"))


class ClientMistake(Exception):
    """Bad input: answered with an error reply, never counted."""

    def __init__(self, code: ErrorCode, detail: str | None = None) -> None:
        super().__init__(code, detail)
        self.code: ErrorCode = code
        self.detail = detail

    @property
    def body(self) -> str:
        return error_body(self.code, self.detail)


class WebSocketRequest(NamedTuple):
    route_key: str
    message_id: str
    received_at_ms: int
    body: str
    headers: Mapping[str, str]
    """Header names lower-cased: HTTP header names are case-insensitive."""
    connection_id: str = ""
    """API Gateway's id of the connection: kept only in the Connections table, never logged."""
    connected_at_ms: int = 0
    """When the connection opened (requestContext.connectedAt, ms); 0 when unknown."""


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if values:
            headers[str(name).lower()] = str(values[0])
    for name, value in (event.get("headers") or {}).items():
        headers[str(name).lower()] = str(value)
    return headers


def _body(event: Mapping[str, Any]) -> str:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ClientMistake("invalid_json", "the frame is not UTF-8 text") from None
    return str(body)


def _epoch_ms(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return int(time.time() * 1000)


def parse_request(event: Mapping[str, Any]) -> WebSocketRequest:
    context = event.get("requestContext") or {}
    return WebSocketRequest(
        route_key=str(context.get("routeKey", "")),
        message_id=str(context.get("messageId") or context.get("requestId") or ""),
        received_at_ms=_epoch_ms(context.get("requestTimeEpoch")),
        body=_body(event),
        headers=_headers(event),
        connection_id=str(context.get("connectionId") or ""),
        connected_at_ms=_epoch_ms(context.get("connectedAt")) if context.get("connectedAt") is not None else 0,
    )


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_json(body: str) -> Any:
    """The frame as JSON, or ClientMistake (too_large / invalid_json)."""
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise ClientMistake("too_large", f"a message may be at most {MAX_BODY_BYTES} bytes")
    try:
        # NaN and Infinity are not JSON; Python accepts them unless told otherwise.
        return json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise ClientMistake("invalid_json", "the message is not a JSON object") from None


def decode_object(body: str) -> dict[str, Any]:
    """The frame as a JSON object, or ClientMistake."""
    data = decode_json(body)
    if not isinstance(data, dict):
        raise ClientMistake("invalid_json", "the message is not a JSON object")
    return data


def respond(body: str) -> WebSocketResponse:
    """A route response: API Gateway sends `body` back to the client as a text frame."""
    return {"statusCode": 200, "body": body}


def status(code: int) -> WebSocketResponse:
    return {"statusCode": code}
