"""Structured logs: one JSON object per line, nothing personal.

json.dumps escapes CR, LF and every other control character, so a hostile value can
never start a second log line. Callers pass only what they decided to log: codes,
counts, event types; never connection ids, IPs, user agents or raw bodies.

The functions run with Lambda's JSON log format and log-level filtering
(components/lambda_logging.py). Lambda filters a line printed to stdout by its `level`
key, which must be one of its own levels (a missing or unknown one counts as INFO), and
by an RFC 3339 `timestamp` (without one, Lambda treats the line as INFO too): so both
are always here, and the levels are Lambda's spelling.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Literal

Level = Literal["info", "warn", "error"]


def rfc3339(epoch_seconds: float) -> str:
    """UTC with milliseconds, e.g. 2026-11-29T22:40:01.123Z."""
    whole = int(epoch_seconds)
    millis = int((epoch_seconds - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def line(level: Level, event: str, **fields: Any) -> str:
    """Pure but for the clock: the log line, newline included."""
    record = {"timestamp": rfc3339(time.time()), "level": level, "event": event, **fields}
    return json.dumps(record, ensure_ascii=True, default=str, separators=(",", ":")) + "\n"


def log(level: Level, event: str, **fields: Any) -> None:
    sys.stdout.write(line(level, event, **fields))
    sys.stdout.flush()
