"""local/refusals.py: refusal lines counted by reason, every line written through."""

from __future__ import annotations

import io

from handlers.filtered import Reason
from local.refusals import RefusalTee

LINES = (
    '{"ts":1,"level":"info","event":"connect_refused","reason":"bot"}\n'
    '{"ts":1,"level":"info","event":"duplicate_skipped","purpose":"views","count":1}\n'
    '{"ts":1,"level":"info","event":"view_refused","reason":"bot"}\n'  # not bot's event: not a refusal line
    "not json\n"
    '{"ts":1,"level":"info","event":"referrer_dropped","reason":"referrer_spam"}\n'
)


def test_refusal_tee_records_refusal_lines_by_reason_and_writes_every_line() -> None:
    target, seen = io.StringIO(), list[Reason]()
    tee = RefusalTee(target, seen.append)
    assert tee.write(LINES) == len(LINES)
    assert target.getvalue() == LINES
    assert seen == ["bot", "referrer_spam"]


def test_refusal_tee_failing_record_still_writes_the_line() -> None:
    def broken(reason: Reason) -> None:
        raise ConnectionError("emulator gone")

    target = io.StringIO()
    RefusalTee(target, broken).write(LINES.splitlines(keepends=True)[0])
    first, warning = target.getvalue().splitlines()
    assert '"reason":"bot"' in first and '"event":"refusal_not_recorded"' in warning
