"""$connect, $disconnect and $default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.aws import BLOG_ORIGIN
from support.events import ws_connect, ws_message

from handlers import aws, connect, default, disconnect
from handlers.api import error_body
from handlers.schema import ErrorReply, dump_reply
from handlers.wiring import ENV_ALLOWED_ORIGINS, WIRING

ROOT = Path(__file__).resolve().parents[1]


def test_connect_allowed_origin_accepted(handler_env: None) -> None:
    assert connect.handler(ws_connect(BLOG_ORIGIN), None) == {"statusCode": 200}


@pytest.mark.parametrize("header", ["origin", "ORIGIN", "Origin"])
def test_connect_header_name_case_insensitive(handler_env: None, header: str) -> None:
    assert connect.handler(ws_connect(BLOG_ORIGIN, header_name=header), None)["statusCode"] == 200


@pytest.mark.parametrize(
    "origin", ["HTTPS://Blog.Example.com/", "https://blog.example.com:443", "https://blog.example.com."]
)
def test_connect_origin_compared_in_normal_form(handler_env: None, origin: str) -> None:
    assert connect.handler(ws_connect(origin), None)["statusCode"] == 200


def test_connect_admits_the_blog_when_configured_with_its_default_port(
    handler_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_ALLOWED_ORIGINS, json.dumps(["https://blog.example.com:443"]))
    aws.reset()
    assert connect.handler(ws_connect("https://blog.example.com"), None)["statusCode"] == 200


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://blog.example.com", "https://blog.example.com.evil", "null", "http://[::1", ""],
)
def test_connect_foreign_origin_refused(handler_env: None, origin: str) -> None:
    assert connect.handler(ws_connect(origin), None) == {"statusCode": 403}


def test_connect_missing_origin_refused(handler_env: None) -> None:
    assert connect.handler(ws_connect(None), None) == {"statusCode": 403}


def test_disconnect_accepts(handler_env: None) -> None:
    event = ws_connect(BLOG_ORIGIN)
    event["requestContext"].update(routeKey="$disconnect", eventType="DISCONNECT")
    assert disconnect.handler(event, None) == {"statusCode": 200}


def test_default_unknown_route(handler_env: None) -> None:
    reply = json.loads(default.handler(ws_message({"message": "subscribe"}, route="$default"), None)["body"])
    assert reply["message"] == "error" and reply["error"] == "unknown_route"


def test_default_unknown_route_names_every_message_route_of_the_wiring_table(handler_env: None) -> None:
    reply = json.loads(default.handler(ws_message({"message": "subscribe"}, route="$default"), None)["body"])
    assert reply["detail"] == '"message" must be "views" or "stats" or "watch"'
    assert all(f'"{key}"' in reply["detail"] for key in WIRING.message_routes)


@pytest.mark.parametrize("body", ["not json", "{", "[1,2]", '"views"', "NaN", ""])
def test_default_not_a_json_object_is_invalid_json(handler_env: None, body: str) -> None:
    reply = json.loads(default.handler(ws_message(body, route="$default"), None)["body"])
    assert reply["error"] == "invalid_json"


def test_default_oversized_frame_is_too_large(handler_env: None) -> None:
    reply = json.loads(default.handler(ws_message("x" * 40_000, route="$default"), None)["body"])
    assert reply["error"] == "too_large"


@pytest.mark.parametrize("detail", [None, "articleId: at most 128 characters", 'é ü \u2028 "quoted"'])
def test_error_body_matches_the_schemas_error_reply(detail: str | None) -> None:
    assert error_body("invalid_event", detail) == dump_reply(ErrorReply(error="invalid_event", detail=detail))


@pytest.mark.parametrize(
    "module", ["handlers.connect", "handlers.disconnect", "handlers.default", "handlers.replicate", "handlers.repair"]
)
def test_handlers_that_validate_nothing_do_not_load_pydantic(module: str) -> None:
    """Their cold start should pay for neither pydantic nor the schema (bench/coldstart.py)."""
    code = f"import sys, {module}; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
