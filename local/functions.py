"""The Lambda functions of the wiring table, called in-process.

Handlers read their settings on first use, not at import, and keep them for the
process (handlers/settings.py), so `__main__` sets the environment before any handler
runs or creates a client. A handler that raises is logged and reported to the caller
as a failure; it never stops the stack.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from handlers.wiring import Wiring

Handler = Callable[[dict[str, Any], object], Any]


def log(level: str, event: str, **fields: Any) -> None:
    """The local stack's own log lines: JSON, one per line, on stderr (stdout carries only `ready`)."""
    record = {"ts": round(time.time(), 3), "level": level, "event": event, "source": "local", **fields}
    sys.stderr.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
    sys.stderr.flush()


@dataclass
class LambdaContext:
    """The parts of Lambda's context object a handler may read."""

    function_name: str
    timeout_seconds: int
    memory_limit_in_mb: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:local-{self.function_name}"
        self.function_version = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""


class HandlerFailed(Exception):
    """The handler raised (or returned garbage); already logged."""


@dataclass(frozen=True)
class Functions:
    wiring: Wiring
    handlers: dict[str, Handler]

    @classmethod
    def load(cls, wiring: Wiring) -> Functions:
        handlers = {f.name: importlib.import_module(f.module).handler for f in wiring.functions}
        return cls(wiring, handlers)

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """Call one function as Lambda would; HandlerFailed when it raises."""
        spec = self.wiring.function(name)
        context = LambdaContext(spec.name, spec.timeout_seconds, spec.memory_mb)
        try:
            return self.handlers[name](event, context)
        except Exception as exc:  # a handler bug must not stop the stack
            # Type and where, not the message: a message may quote client text.
            log("error", "handler_failed", function=name, error=type(exc).__name__, at=_where(exc))
            raise HandlerFailed(name) from exc
