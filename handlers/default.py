"""$default: frames whose `message` names no route (or that are not JSON)."""

from __future__ import annotations

from typing import Any

from handlers.api import ClientMistake, WebSocketResponse, decode_object, error_body, parse_request, respond
from handlers.wiring import WIRING

# From the wiring table (pure data, no pydantic), so a new route is named here without an edit.
UNKNOWN_ROUTE_DETAIL = '"message" must be ' + " or ".join(f'"{key}"' for key in WIRING.message_routes)


def default_reply(body: str) -> str:
    """Pure: not JSON -> invalid_json; any other object -> unknown_route."""
    try:
        decode_object(body)
    except ClientMistake as mistake:
        return mistake.body
    return error_body("unknown_route", UNKNOWN_ROUTE_DETAIL)


def handler(event: dict[str, Any], context: object) -> WebSocketResponse:
    try:
        body = parse_request(event).body
    except ClientMistake as mistake:
        return respond(mistake.body)
    return respond(default_reply(body))
