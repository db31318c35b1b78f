"""The CLI's pure parts: options, the handlers' environment, origins and the ready line."""

from __future__ import annotations

import json

import pytest

from handlers.settings import settings_from
from local.__main__ import own_origins, parse_args, url_host
from local.emulator import handler_environment
from local.launcher import parse_ready, ready_line


def test_parse_args_defaults() -> None:
    args = parse_args([])
    assert (args.host, args.port, args.allowed_origin, args.aws_port) == ("127.0.0.1", 8787, [], 0)


def test_parse_args_repeatable_origin() -> None:
    args = parse_args(["--port", "0", "--allowed-origin", "https://a.example", "--allowed-origin", "https://b.example"])
    assert args.port == 0 and args.allowed_origin == ["https://a.example", "https://b.example"]


def test_parse_args_origin_normalised_or_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_args(["--allowed-origin", "HTTPS://A.example:443/"]).allowed_origin == ["https://a.example"]
    with pytest.raises(SystemExit):
        parse_args(["--allowed-origin", "https://a.example/posts"])
    assert "no path" in capsys.readouterr().err


def test_parse_args_limits_default_to_api_gateways() -> None:
    args = parse_args([])
    assert (args.idle_timeout, args.max_connection) == (600, 7200)


def test_parse_args_limits_shortened_or_refused(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_args(["--idle-timeout", "5", "--max-connection", "30.5"])
    assert (args.idle_timeout, args.max_connection) == (5, 30.5)
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(SystemExit):
            parse_args(["--idle-timeout", bad])
    assert "not a positive number of seconds" in capsys.readouterr().err


def test_own_origins_name_both_loopback_hosts() -> None:
    assert own_origins("127.0.0.1", 8787) == ["http://127.0.0.1:8787", "http://localhost:8787"]


def test_own_origins_add_a_specific_listen_address_but_not_a_wildcard() -> None:
    assert "http://192.168.1.5:9000" in own_origins("192.168.1.5", 9000)
    assert own_origins("0.0.0.0", 9000) == ["http://127.0.0.1:9000", "http://localhost:9000"]


def test_url_host_brackets_ipv6() -> None:
    assert (url_host("::1"), url_host("127.0.0.1")) == ("[::1]", "127.0.0.1")


def test_ready_line_format() -> None:
    line = ready_line("127.0.0.1", 8787, "http://127.0.0.1:5000", "local")
    assert line == "ready ws=ws://127.0.0.1:8787 aws=http://127.0.0.1:5000 stack=local"


def test_ready_line_parses_back() -> None:
    ready = parse_ready(ready_line("127.0.0.1", 8787, "http://127.0.0.1:5000", "local") + "\n")
    assert ready is not None
    assert (ready.ws_url, ready.aws_url, ready.stack) == ("ws://127.0.0.1:8787", "http://127.0.0.1:5000", "local")
    assert ready.origin == "http://127.0.0.1:8787"
    assert parse_ready("starting...") is None


def test_handler_environment_is_what_the_handlers_read() -> None:
    env = handler_environment(
        "http://127.0.0.1:5000",
        "arn:aws:sns:us-east-1:123456789012:local-view-events",
        ["http://a", "http://a", "http://b"],
    )
    settings = settings_from(env)
    assert settings.stack == "local" and settings.endpoint_url == "http://127.0.0.1:5000"
    assert settings.topic_arn.endswith(":local-view-events")
    assert settings.allowed_origins == {"http://a", "http://b"}
    assert json.loads(env["ALLOWED_ORIGINS"]) == ["http://a", "http://b"]
    assert env["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled" and env["AWS_DEFAULT_REGION"] == "us-east-1"
