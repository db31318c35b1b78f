"""`/dashboard` on the local stack: the report's HTML (`python -m report --html`), read from the emulator.

Rendered on each request from the emulator's tables, so it shows what the report would.
Unlike `--html`, the page carries one script (dashboard.js): it opens a WebSocket to this
same gateway (so its Origin is the gateway's own, which $connect admits), sends `watch` for
the posts and pages the page lists, and moves their numbers on each `counts` push; it never
sends a view. Without script, or when the socket cannot open, the page reloads itself every
REFRESH_SECONDS as before.
"""

from __future__ import annotations

import dataclasses
import html
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from report import metrics, model, store
from report.cli import aws_problem
from report.html import render
from report.settings import StackSettings

PATH = "/dashboard"
REFRESH_SECONDS = 30
CONTENT_TYPE = "text/html; charset=utf-8"
LIVE_SCRIPT = Path(__file__).with_name("dashboard.js")


def today() -> date:
    return datetime.now(UTC).date()


@dataclass
class Dashboard:
    """The page's (status, content type, body); its client is made once, in the caller's thread."""

    settings: StackSettings
    ddb: Any = None
    clock: Callable[[], date] = field(default=today)
    cloudwatch: Any = None
    """Where the refusals are read (local/refusals.py puts them in the emulator's CloudWatch)."""

    def __post_init__(self) -> None:
        if self.ddb is None:
            self.ddb = store.client(self.settings)
        if self.cloudwatch is None:
            self.cloudwatch = metrics.client(self.settings)
        self.script = LIVE_SCRIPT.read_text(encoding="utf-8")

    def __call__(self) -> tuple[int, str, bytes]:
        period = model.default_period(self.clock())
        try:
            # Progress lines belong to a terminal, not to the stack's log.
            report = store.read_report(self.ddb, self.settings, period, progress_out=io.StringIO())
        except (BotoCoreError, ClientError) as exc:
            problem = html.escape(aws_problem(exc, self.settings))
            page = f"<!doctype html><meta charset=utf-8><title>Dashboard unavailable</title><p>{problem}</p>"
            return 503, CONTENT_TYPE, page.encode()
        # Refusals that cannot be read are said on the page (Refused.error), not a 503.
        refused = metrics.read_refused(self.settings, period, period.until, self.cloudwatch)
        report = dataclasses.replace(report, refused=refused)
        page = render(report, REFRESH_SECONDS, generated=period.until, live_script=self.script)
        return 200, CONTENT_TYPE, page.encode()
