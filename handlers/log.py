"""Structured logs: one JSON object per line, nothing personal.

json.dumps escapes CR, LF and every other control character, so a hostile value can
never start a second log line. Callers pass only what they decided to log: codes,
counts, event types; never connection ids, IPs, user agents or raw bodies.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def log(level: str, event: str, **fields: Any) -> None:
    record = {"ts": round(time.time(), 3), "level": level, "event": event, **fields}
    sys.stdout.write(json.dumps(record, ensure_ascii=True, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()
