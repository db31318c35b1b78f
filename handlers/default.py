"""$default: frames whose `message` names no route (or that are not JSON)."""

from __future__ import annotations

from typing import Any

from handlers.api import ClientMistake, WebSocketResponse, decode_json, parse_request, respond
from handlers.schema import ErrorReply


def default_reply(body: str) -> ErrorReply:
    try:
        data = decode_json(body)
    except ClientMistake as mistake:
        return mistake.reply
    if not isinstance(data, dict):
        return ErrorReply(error="invalid_json", detail="the message is not a JSON object")
    return ErrorReply(error="unknown_route", detail='"message" must be "views" or "stats"')


def handler(event: dict[str, Any], context: object) -> WebSocketResponse:
    try:
        body = parse_request(event).body
    except ClientMistake as mistake:
        return respond(mistake.reply)
    return respond(default_reply(body))
