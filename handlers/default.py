"""$default: frames whose `message` names no route (or that are not JSON)."""

from __future__ import annotations

from typing import Any

from handlers.api import ClientMistake, WebSocketResponse, decode_object, error_body, parse_request, respond


def default_reply(body: str) -> str:
    """Pure: not JSON -> invalid_json; any other object -> unknown_route."""
    try:
        decode_object(body)
    except ClientMistake as mistake:
        return mistake.body
    return error_body("unknown_route", '"message" must be "views" or "stats"')


def handler(event: dict[str, Any], context: object) -> WebSocketResponse:
    try:
        body = parse_request(event).body
    except ClientMistake as mistake:
        return respond(mistake.body)
    return respond(default_reply(body))
