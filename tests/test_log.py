"""handlers/log.py: lines Lambda's JSON log format and log-level filtering read as meant."""

from __future__ import annotations

import json
from datetime import datetime
from typing import get_args

import pytest

from handlers.log import Level, log, rfc3339

# Lambda's log levels (advanced logging controls); any other value is filed as INFO.
LAMBDA_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}


def test_log_line_has_a_lambda_level_and_an_rfc3339_timestamp(capsys: pytest.CaptureFixture[str]) -> None:
    for level in ("info", "warn", "error"):
        log(level, "something", count=2)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [line["level"] for line in lines] == ["info", "warn", "error"]
    for line in lines:
        assert line["level"].upper() in LAMBDA_LEVELS
        assert datetime.fromisoformat(line["timestamp"]).utcoffset() is not None, "RFC 3339 needs an offset"


def test_log_hostile_value_stays_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    log("error", "bad", detail='x\r\n{"level":"info"}\u2028')
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out)["detail"] == 'x\r\n{"level":"info"}\u2028'


def test_log_rfc3339_is_utc_with_milliseconds() -> None:
    assert rfc3339(0.25) == "1970-01-01T00:00:00.250Z"
    assert rfc3339(1_795_000_000.999) == "2026-11-18T11:06:40.999Z"


def test_log_every_handler_level_is_one_lambda_files_as_itself() -> None:
    assert {level.upper() for level in get_args(Level)} <= LAMBDA_LEVELS
