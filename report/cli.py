"""`python -m report`: the owner's view of a stack's counts (read-only), and `set-title`.

stdout carries only what was asked for (the summary, or the one JSON document); errors
and progress go to stderr. Exit codes: 0 done, 1 the stack could not be read (one line
saying what to check), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NoReturn, TextIO

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from report import metrics, model, store
from report.model import Period
from report.settings import ROOT, SettingsError, StackSettings, resolve

DEFAULT_DAYS = 30
EXIT_FAILED = 1
EXIT_USAGE = 2

EPILOG = """\
examples:
  python -m report --stack prod                        terminal summary of the last 30 days
  python -m report --stack prod --json                 the same as one JSON document
  python -m report --stack prod --html report.html     a self-contained dashboard with charts
  python -m report --stack prod --csv out/             posts, pages, series, referrers, refused (.csv)
  python -m report --stack local --endpoint-url http://127.0.0.1:<aws-port>
  python -m report set-title ARTICLE_ID "Title" --stack prod   change a stored title (the one command that writes)
"""


class UsageError(ValueError):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def utc_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-29") from None


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="stack name: its region comes from Pulumi.<stack>.yaml")
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="AWS endpoint (DynamoDB, CloudWatch): the local stack's aws= URL (region us-east-1)",
    )


def report_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m report",
        description="Views over time per post, page and referrer, read from a stack's tables, and what was "
        "filtered per reason, read from CloudWatch (never writes).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_stack_arguments(parser)
    parser.add_argument(
        "--since", type=utc_date, metavar="YYYY-MM-DD", help="first UTC day (default: 29 days before --until)"
    )
    parser.add_argument("--until", type=utc_date, metavar="YYYY-MM-DD", help="last UTC day, included (default: today)")
    parser.add_argument("--by", choices=("day", "hour"), default="day", help="series buckets (default day)")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout, nothing else")
    parser.add_argument(
        "--csv", type=Path, metavar="DIR", help="write posts, pages, series, referrers and refused as CSV files"
    )
    parser.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML dashboard")
    return parser


def period_of(args: argparse.Namespace, today: date) -> Period:
    until: date = args.until or today
    since: date = args.since or model.default_period(until, DEFAULT_DAYS).since
    if since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    return Period(since, until, args.by)


def fail(err: TextIO, message: str, code: int) -> int:
    err.write(f"report: {message}\n")
    return code


def aws_problem(exc: Exception, settings: StackSettings) -> str:
    """One line saying what to check."""
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            where = settings.endpoint_url or settings.region
            return f"a table of stack {settings.stack!r} does not exist at {where}: check --stack and --endpoint-url"
        if code in ("AccessDeniedException", "UnrecognizedClientException"):
            return f"{code}: the credentials may not read {settings.stack}'s tables (README: Seeing your numbers)"
        return f"{code}: {exc.response.get('Error', {}).get('Message', '')}"
    return f"cannot reach DynamoDB: {exc}"


def run_report(argv: Sequence[str], out: TextIO, err: TextIO, today: date, root: Path) -> int:
    args = report_parser().parse_args(argv)
    period = period_of(args, today)
    settings = resolve(args.stack, args.endpoint_url, root)
    try:
        report = store.read_report(store.client(settings), settings, period, err)
    except (BotoCoreError, ClientError) as exc:
        return fail(err, aws_problem(exc, settings), EXIT_FAILED)
    # What was filtered comes from CloudWatch; if it cannot be read, the rest still is (once, here).
    refused = metrics.read_refused(settings, period, today)
    if refused.error:
        err.write(f"report: refusals not shown: {refused.error}\n")
    report = dataclasses.replace(report, refused=refused)
    document = model.document(report)
    if args.json:
        out.write(json.dumps(document, ensure_ascii=False) + "\n")
    if args.csv is not None:
        from report.csvfiles import write_csv  # noqa: PLC0415 - only when asked

        paths = write_csv(args.csv, document)
        err.write(f"report: wrote {', '.join(str(p) for p in paths)}\n")
    if args.html is not None:
        from report.html import render  # noqa: PLC0415 - only when asked

        args.html.write_text(render(report, generated=today), encoding="utf-8")
        err.write(f"report: wrote {args.html}\n")
    if not (args.json or args.csv or args.html):
        from report.text import summary  # noqa: PLC0415

        out.write(summary(report))
    return 0


Command = Callable[[Sequence[str], TextIO, TextIO, date, Path], int]


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    today: date | None = None,
    root: Path = ROOT,
) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out, err = out or sys.stdout, err or sys.stderr
    today = today or datetime.now(UTC).date()
    command: Command = run_report
    if argv[:1] == ["set-title"]:
        from report.titles import run_set_title  # noqa: PLC0415 - the one writing command

        command, argv = run_set_title, argv[1:]
    try:
        return command(argv, out, err, today, root)
    except UsageError as exc:
        return fail(err, f"{exc} (see python -m report --help)", EXIT_USAGE)
    except SettingsError as exc:
        return fail(err, str(exc), EXIT_USAGE)
    except OSError as exc:
        return fail(err, f"cannot write: {exc}", EXIT_FAILED)
