"""Pure: API Gateway's WebSocket behaviour as data in, event dicts out.

Nothing here does I/O, so the gateway's decisions (which route, which event shape,
which ids) are tested without a socket. The shapes follow what API Gateway sends a
Lambda proxy integration, so the handlers cannot tell the local stack from AWS.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from handlers.wiring import DISCONNECT_ROUTE, Wiring

DEFAULT_ROUTE = "$default"
CONNECT_ROUTE = "$connect"
_RESERVED_ROUTES = frozenset({CONNECT_ROUTE, DISCONNECT_ROUTE, DEFAULT_ROUTE})

# API Gateway's quota is 128 KB per message (32 KB per frame); a bigger message
# closes the connection with 1009 (message too big).
MAX_MESSAGE_BYTES = 128 * 1024
STAGE = "local"
API_ID = "local"
# The route selection expression the gateway implements; the wiring table must agree.
SELECTION_EXPRESSION = "$request.body.message"
SELECTION_KEY = "message"


def new_id(random_bytes: bytes | None = None) -> str:
    """An id shaped like API Gateway's connectionId / messageId, e.g. `IjBZ4cx5IAMCJYw=`.

    11 random bytes are 16 base64 characters ending in one `=`, as AWS's are. The
    URL-safe alphabet keeps the id usable in an `/@connections/{id}` path unescaped.
    Always made by the server: an id chosen by a client could replay another's eventId.
    """
    raw = random_bytes if random_bytes is not None else secrets.token_bytes(11)
    return base64.urlsafe_b64encode(raw).decode("ascii")


def route_keys(wiring: Wiring) -> frozenset[str]:
    """Route keys a frame may select: every wired route but the three reserved ones."""
    if wiring.route_selection_expression != SELECTION_EXPRESSION:
        raise ValueError(f"the local gateway implements only {SELECTION_EXPRESSION!r}")
    return frozenset(r.route_key for r in wiring.routes) - _RESERVED_ROUTES


def select_route(body: str | bytes, keys: Iterable[str]) -> str:
    """`$request.body.message` as API Gateway evaluates it; `$default` when it cannot.

    Binary frames, non-JSON text, non-objects, a non-string `message` or an unknown
    key all fall back to `$default` (whose handler answers the error).
    """
    if isinstance(body, bytes):
        return DEFAULT_ROUTE
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return DEFAULT_ROUTE
    if not isinstance(data, dict):
        return DEFAULT_ROUTE
    key = data.get(SELECTION_KEY)
    if isinstance(key, str) and key in keys and key not in _RESERVED_ROUTES:
        return key
    return DEFAULT_ROUTE


@dataclass(frozen=True)
class Connection:
    """What API Gateway remembers about one WebSocket connection."""

    connection_id: str
    source_ip: str
    domain_name: str
    connected_at_ms: int
    user_agent: str = ""
    headers: tuple[tuple[str, str], ...] = field(default=())


def _request_context(conn: Connection, route_key: str, event_type: str, now_ms: int, request_id: str) -> dict[str, Any]:
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
        "messageDirection": "IN",
        "stage": STAGE,
        "connectedAt": conn.connected_at_ms,
        "requestTimeEpoch": now_ms,
        "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
        "requestId": request_id,
        "domainName": conn.domain_name,
        "connectionId": conn.connection_id,
        "apiId": API_ID,
    }


def _header_maps(headers: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """API Gateway's `headers` (last value wins) and `multiValueHeaders` (all values)."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def connect_event(conn: Connection, now_ms: int, request_id: str) -> dict[str, Any]:
    single, multi = _header_maps(conn.headers)
    return {
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": _request_context(conn, CONNECT_ROUTE, "CONNECT", now_ms, request_id),
        "isBase64Encoded": False,
    }


def message_event(
    conn: Connection, route_key: str, body: str | bytes, now_ms: int, request_id: str, message_id: str
) -> dict[str, Any]:
    context = _request_context(conn, route_key, "MESSAGE", now_ms, request_id)
    context["messageId"] = message_id
    binary = isinstance(body, bytes)
    return {
        "requestContext": context,
        "body": base64.b64encode(body).decode("ascii") if isinstance(body, bytes) else body,
        "isBase64Encoded": binary,
    }


def disconnect_event(
    conn: Connection, now_ms: int, request_id: str, status_code: int | None, reason: str
) -> dict[str, Any]:
    single, multi = _header_maps((k, v) for k, v in conn.headers if k.lower() in ("host", "user-agent"))
    context = _request_context(conn, DISCONNECT_ROUTE, "DISCONNECT", now_ms, request_id)
    context["disconnectStatusCode"] = status_code if status_code is not None else 1005
    context["disconnectReason"] = reason
    return {
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": context,
        "isBase64Encoded": False,
    }


def status_of(result: object) -> int:
    """A handler's statusCode; anything unreadable counts as a failure (502, as AWS)."""
    if isinstance(result, Mapping):
        code = result.get("statusCode")
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    return 502


def reply_of(result: object) -> str | None:
    """The route response a replying route sends back, if the handler returned a body."""
    if isinstance(result, Mapping):
        body = result.get("body")
        if isinstance(body, str):
            return body
    return None


def internal_error_reply(conn: Connection, request_id: str) -> str:
    """What API Gateway sends the client when the integration fails."""
    return json.dumps({"message": "Internal server error", "connectionId": conn.connection_id, "requestId": request_id})
