"""The API Gateway WebSocket envelope: parsing requests apart from our payload, and replies."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, TypeVar

from pydantic import BaseModel, ValidationError

from handlers.schema import ErrorCode, ErrorReply, Reply, describe_validation_error, dump_reply

# API Gateway refuses frames over 32 KB itself; a views or stats message is far
# smaller, so anything near the limit is refused before it is parsed.
MAX_BODY_BYTES = 32 * 1024

M = TypeVar("M", bound=BaseModel)


class WebSocketResponse(TypedDict):
    statusCode: int
    body: NotRequired[str]


class ClientMistake(Exception):
    """Bad input: answered with an error reply, never counted."""

    def __init__(self, code: ErrorCode, detail: str | None = None) -> None:
        super().__init__(code, detail)
        self.reply = ErrorReply(error=code, detail=detail)


@dataclass(frozen=True)
class WebSocketRequest:
    route_key: str
    message_id: str
    received_at_ms: int
    body: str
    headers: Mapping[str, str]
    """Header names lower-cased: HTTP header names are case-insensitive."""


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


def parse_message(model: type[M], body: str) -> M:
    """Body -> typed message, or ClientMistake naming the first bad field."""
    data = decode_json(body)
    if not isinstance(data, dict):
        raise ClientMistake("invalid_json", "the message is not a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ClientMistake("invalid_event", describe_validation_error(exc)) from None


def respond(reply: Reply) -> WebSocketResponse:
    """A route response: API Gateway sends `body` back to the client as a text frame."""
    return {"statusCode": 200, "body": dump_reply(reply)}


def status(code: int) -> WebSocketResponse:
    return {"statusCode": code}
