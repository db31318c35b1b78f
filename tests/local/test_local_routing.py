"""Pure parts of the gateway: ids, route selection, API Gateway event shapes, replies."""

from __future__ import annotations

import base64
import json
import re

import pytest

from handlers.wiring import WIRING, RouteSpec, Wiring
from local.routing import (
    MAX_MESSAGE_BYTES,
    Connection,
    connect_event,
    disconnect_event,
    internal_error_reply,
    message_event,
    new_id,
    reply_of,
    route_keys,
    select_route,
    status_of,
)

KEYS = route_keys(WIRING)
CONN = Connection(
    connection_id="IjBZ4cx5IAMCJYw=",
    source_ip="127.0.0.1",
    domain_name="127.0.0.1:8787",
    connected_at_ms=1_795_824_000_000,
    user_agent="pytest",
    headers=(("Host", "127.0.0.1:8787"), ("Origin", "http://127.0.0.1:8787"), ("X-Dup", "a"), ("X-Dup", "b")),
)


def test_new_id_shaped_like_api_gateway() -> None:
    ident = new_id()
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", ident), ident


def test_new_id_random_each_time() -> None:
    assert len({new_id() for _ in range(1000)}) == 1000


def test_new_id_from_given_bytes_is_url_safe() -> None:
    assert new_id(b"\xff" * 11) == "______________8="


def test_route_keys_exclude_reserved_routes() -> None:
    assert route_keys(WIRING) == frozenset({"views", "stats", "watch"})


def test_route_keys_refuse_other_selection_expressions() -> None:
    wiring = Wiring((), (), (RouteSpec("views", "views"),), (), (), route_selection_expression="$request.body.action")
    with pytest.raises(ValueError, match=r"request\.body\.message"):
        route_keys(wiring)


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ('{"message":"views","articleId":"a"}', "views"),
        ('{"message":"stats"}', "stats"),
        ('  {"message" : "stats"}  ', "stats"),
        ('{"message":"subscribe"}', "$default"),
        ('{"message":"$connect"}', "$default"),
        ('{"message":"$disconnect"}', "$default"),
        ('{"message":"$default"}', "$default"),
        ('{"message":["views"]}', "$default"),
        ('{"message":null}', "$default"),
        ('{"Message":"views"}', "$default"),
        ('["views"]', "$default"),
        ('"views"', "$default"),
        ("views", "$default"),
        ("{", "$default"),
        ("", "$default"),
        ("[" * 100_000, "$default"),
    ],
)
def test_select_route(body: str, route: str) -> None:
    assert select_route(body, KEYS) == route


def test_select_route_binary_frame_is_default() -> None:
    assert select_route(b'{"message":"views"}', KEYS) == "$default"


def test_connect_event_carries_all_headers() -> None:
    event = connect_event(CONN, 1_795_824_000_123, "req=")
    assert event["headers"]["Origin"] == "http://127.0.0.1:8787"
    assert event["multiValueHeaders"]["X-Dup"] == ["a", "b"]
    assert event["headers"]["X-Dup"] == "b"
    context = event["requestContext"]
    assert context["routeKey"] == "$connect" and context["eventType"] == "CONNECT"
    assert context["connectionId"] == CONN.connection_id
    assert context["requestTimeEpoch"] == 1_795_824_000_123
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert "messageId" not in context and "body" not in event


def test_message_event_text_frame() -> None:
    event = message_event(CONN, "views", '{"message":"views"}', 1, "req=", "msg=")
    assert event["body"] == '{"message":"views"}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert (context["routeKey"], context["eventType"], context["messageId"]) == ("views", "MESSAGE", "msg=")
    assert context["messageDirection"] == "IN" and context["stage"] == "local"
    assert "headers" not in event


def test_message_event_binary_frame_is_base64() -> None:
    event = message_event(CONN, "$default", b"\x00\x01", 1, "req=", "msg=")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\x01"


def test_disconnect_event_has_close_code_and_no_origin() -> None:
    event = disconnect_event(CONN, 1, "req=", 1001, "going away")
    context = event["requestContext"]
    assert (context["routeKey"], context["eventType"]) == ("$disconnect", "DISCONNECT")
    assert context["disconnectStatusCode"] == 1001 and context["disconnectReason"] == "going away"
    assert "Origin" not in event["headers"]


def test_disconnect_event_without_close_frame_is_1005() -> None:
    assert disconnect_event(CONN, 1, "req=", None, "")["requestContext"]["disconnectStatusCode"] == 1005


@pytest.mark.parametrize(
    ("result", "status"),
    [
        ({"statusCode": 200}, 200),
        ({"statusCode": 403}, 403),
        ({"statusCode": "200"}, 502),
        ({"statusCode": True}, 502),
        (None, 502),
        ({}, 502),
        ("ok", 502),
    ],
)
def test_status_of(result: object, status: int) -> None:
    assert status_of(result) == status


def test_reply_of_only_string_bodies() -> None:
    assert reply_of({"statusCode": 200, "body": "{}"}) == "{}"
    assert reply_of({"statusCode": 200}) is None
    assert reply_of({"statusCode": 200, "body": {"a": 1}}) is None
    assert reply_of(None) is None


def test_internal_error_reply_like_api_gateway() -> None:
    reply = json.loads(internal_error_reply(CONN, "req="))
    assert reply == {
        "message": "Internal server error",
        "connectionId": CONN.connection_id,
        "requestId": "req=",
    }


def test_message_limit_is_api_gateways() -> None:
    assert MAX_MESSAGE_BYTES == 128 * 1024
