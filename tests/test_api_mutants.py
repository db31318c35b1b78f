"""The WebSocket envelope (handlers/api.py) read field by field: written to kill the
mutants of handlers/api.py that the handler tests let survive (tests/MUTATION.md).
Every field of the envelope is read here as API Gateway sends it, and as a hostile or
broken one might."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from support.events import sample

from handlers.api import MAX_BODY_BYTES, ClientMistake, decode_json, decode_object, parse_request, respond, status


def envelope(**context: Any) -> dict[str, Any]:
    event = sample("ws_message")
    event["requestContext"].update(context)
    return event


def mistake(call: Any, *args: Any) -> ClientMistake:
    with pytest.raises(ClientMistake) as caught:
        call(*args)
    return caught.value


def test_api_request_reads_every_field_of_the_envelope() -> None:
    request = parse_request(sample("ws_message"))
    assert request.route_key == "views"
    assert request.message_id == "IjBa9fNxIAMCJYw="
    assert request.received_at_ms == 1795824000123
    assert request.body == '{"message":"views"}'
    assert request.connection_id == "IjBZ4cx5IAMCJYw="
    assert request.connected_at_ms == 1795824000000


def test_api_request_without_a_context_is_empty_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.5)
    request = parse_request({})
    assert (request.route_key, request.message_id, request.body, request.connection_id) == ("", "", "", "")
    assert request.received_at_ms == 1_700_000_000_500
    assert request.connected_at_ms == 0
    assert dict(request.headers) == {}


def test_api_request_id_stands_for_a_missing_message_id() -> None:
    """$connect and $disconnect carry no messageId: the requestId names the request."""
    event = envelope()
    del event["requestContext"]["messageId"]
    assert parse_request(event).message_id == "IjBa9FFYIAMF3pA="
    event["requestContext"]["messageId"] = None
    assert parse_request(event).message_id == "IjBa9FFYIAMF3pA="


@pytest.mark.parametrize("value", [None, "soon", [1]])
def test_api_unreadable_request_time_is_the_functions_clock(monkeypatch: pytest.MonkeyPatch, value: Any) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.25)
    assert parse_request(envelope(requestTimeEpoch=value)).received_at_ms == 1_700_000_000_250


def test_api_request_time_given_as_text_is_read() -> None:
    assert parse_request(envelope(requestTimeEpoch="1795824000999")).received_at_ms == 1795824000999


def test_api_connection_time_zero_is_kept_and_missing_is_zero() -> None:
    assert parse_request(envelope(connectedAt="1795824000001")).connected_at_ms == 1795824000001
    event = envelope()
    del event["requestContext"]["connectedAt"]
    assert parse_request(event).connected_at_ms == 0


def test_api_headers_lower_cased_single_values_win_over_multi_values() -> None:
    event = {
        "multiValueHeaders": {"Origin": ["https://a.example", "https://b.example"], "X-Empty": [], "X-Only": ["m"]},
        "headers": {"ORIGIN": "https://c.example", "User-Agent": "ua"},
    }
    assert dict(parse_request(event).headers) == {"origin": "https://c.example", "x-only": "m", "user-agent": "ua"}


def test_api_first_of_multi_value_headers_kept() -> None:
    event = {"multiValueHeaders": {"Origin": ["https://a.example", "https://b.example"]}, "headers": None}
    assert dict(parse_request(event).headers) == {"origin": "https://a.example"}


def test_api_base64_frame_decoded() -> None:
    body = base64.b64encode('{"message":"views","articleTitle":"é"}'.encode()).decode()
    assert parse_request({"body": body, "isBase64Encoded": True}).body == '{"message":"views","articleTitle":"é"}'


def test_api_plain_frame_that_looks_like_base64_kept_as_text() -> None:
    assert parse_request({"body": "aGk=", "isBase64Encoded": False}).body == "aGk="


@pytest.mark.parametrize(
    "body",
    [
        "aGk=!!",  # outside the base64 alphabet: refused, not skipped
        "aGk",  # bad padding
        base64.b64encode(b"\xff\xfe").decode(),  # not UTF-8
    ],
)
def test_api_broken_base64_frame_is_invalid_json(body: str) -> None:
    refused = mistake(parse_request, {"body": body, "isBase64Encoded": True})
    assert (refused.code, refused.detail) == ("invalid_json", "the frame is not UTF-8 text")


def test_api_frame_of_exactly_the_limit_is_read_one_byte_more_refused() -> None:
    padding = MAX_BODY_BYTES - len('{"a":""}')
    assert decode_json('{"a":"' + "x" * padding + '"}') == {"a": "x" * padding}
    refused = mistake(decode_json, '{"a":"' + "x" * (padding + 1) + '"}')
    assert (refused.code, refused.detail) == ("too_large", "a message may be at most 32768 bytes")


def test_api_frame_size_counted_in_utf8_bytes_not_characters() -> None:
    text = "é" * (MAX_BODY_BYTES // 2)  # 32768 bytes of text, and the quotes on top
    assert mistake(decode_json, json.dumps(text, ensure_ascii=False)).code == "too_large"


def test_api_lone_surrogate_in_a_frame_is_measured_not_a_crash() -> None:
    """API Gateway's JSON envelope may carry a `\\ud800` escape in the body: a str
    with a lone surrogate, which plain UTF-8 cannot encode."""
    assert decode_json('"\ud800"') == "\ud800"


@pytest.mark.parametrize("body", ["NaN", "Infinity", "-Infinity", '{"a":NaN}', "[" * 5000 + "]" * 5000])
def test_api_non_json_constants_and_deep_nesting_are_invalid_json(body: str) -> None:
    refused = mistake(decode_json, body)
    assert (refused.code, refused.detail) == ("invalid_json", "the message is not a JSON object")


@pytest.mark.parametrize("body", ["[]", "1", '"views"', "null"])
def test_api_json_that_is_not_an_object_is_invalid_json(body: str) -> None:
    refused = mistake(decode_object, body)
    assert (refused.code, refused.detail) == ("invalid_json", "the message is not a JSON object")


def test_api_object_frame_returned() -> None:
    assert decode_object('{"message":"views"}') == {"message": "views"}


def test_api_client_mistake_carries_its_reply() -> None:
    refused = ClientMistake("unknown_page", "no such page")
    assert (refused.code, refused.detail, refused.args) == (
        "unknown_page",
        "no such page",
        ("unknown_page", "no such page"),
    )
    assert json.loads(refused.body) == {"message": "error", "error": "unknown_page", "detail": "no such page"}
    assert json.loads(ClientMistake("too_large").body) == {"message": "error", "error": "too_large"}


def test_api_responses() -> None:
    assert respond("{}") == {"statusCode": 200, "body": "{}"}
    assert status(403) == {"statusCode": 403}
