"""What was filtered, and why: one reason-coded log line per refusal, nothing personal.

Each line is `{"event": <EVENTS[reason]>, "reason": <reason>}` plus the common fields of
handlers/log.py, never a user agent, an IP, a connection id or a post id. On AWS a
CloudWatch metric filter per reason turns them into the `Refused` metric with a `Reason`
dimension (components/filtered_metrics.py); the local stack counts the same lines
(local/refusals.py) into the emulator's CloudWatch, so the owner reads per reason and day
what was not counted with the same `aws cloudwatch get-metric-statistics` either way.
"""

from __future__ import annotations

import json
from typing import Literal

from handlers.log import log

Reason = Literal["bot", "origin", "budget", "unsigned", "referrer_spam"]
EVENTS: dict[Reason, str] = {
    "bot": "connect_refused",  # a known crawler's user agent, or none ($connect, 403)
    "origin": "connect_refused",  # not one of the blog's origins ($connect, 403)
    "budget": "view_refused",  # more views on one connection than viewsPerConnection allows
    "unsigned": "view_refused",  # a post view without a valid signature, when posts must be signed
    "referrer_spam": "referrer_dropped",  # the view counts, its referrer (a listed spam host) does not
}
SOURCES: dict[Reason, str] = {
    "bot": "connect",
    "origin": "connect",
    "budget": "views",
    "unsigned": "views",
    "referrer_spam": "views",
}
"""Which function (handlers.wiring FunctionSpec.name) logs each reason."""
REASONS: tuple[Reason, ...] = tuple(EVENTS)
METRIC = "Refused"
"""The CloudWatch metric: one per refusal, dimension REASON_DIMENSION = the reason."""
REASON_DIMENSION = "Reason"


def metric_namespace(stack: str) -> str:
    """`blog-analytics/prod`: where a stack's refusal counts are kept (on AWS and locally)."""
    return f"blog-analytics/{stack}"


def reason_of(line: str) -> Reason | None:
    """Pure: the reason of one log line if it is a refusal line, else None."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    reason = record.get("reason") if isinstance(record, dict) else None
    for known in REASONS:
        if reason == known and record.get("event") == EVENTS[known]:
            return known
    return None


def filtered(reason: Reason) -> None:
    log("info", EVENTS[reason], reason=reason)
