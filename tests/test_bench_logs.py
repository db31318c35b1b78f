"""bench: CloudWatch Logs bytes in the cost model, ours beside the original's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.cost import (
    LOG_EVENT_OVERHEAD_BYTES,
    SYSTEM_LOG_BYTES,
    load_prices,
    log_bytes,
    options,
    original_bill,
    our_bill,
)
from bench.load import LoadRun, ViewResult, plan_views
from bench.records import InvokeRecord, Record

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ROOT / "bench" / "hooks"


def _run(views: int) -> LoadRun:
    done = [ViewResult(message, ok=True, sent=1.0) for message in plan_views(views)]
    run = LoadRun(1.0, 1.0, done, started=0.0, sent_all=1.0, drained=2.0)
    run.frames_in = run.frames_out = run.connections = views
    return run


def _invoke(fn: str, log_lines: int = 0, log_bytes: int = 0) -> InvokeRecord:
    record: InvokeRecord = {"kind": "invoke", "time": 1.0, "fn": fn, "ms": 5.0}
    if log_lines:
        record["log_lines"], record["log_bytes"] = log_lines, log_bytes
    return record


def test_bench_log_bytes_count_our_lines_and_optionally_lambdas_own() -> None:
    invokes = [_invoke("views"), _invoke("connect", log_lines=1, log_bytes=100)]
    assert log_bytes(invokes, system_logs=False) == 100 + LOG_EVENT_OVERHEAD_BYTES
    assert log_bytes(invokes, system_logs=True) == 100 + LOG_EVENT_OVERHEAD_BYTES + 2 * SYSTEM_LOG_BYTES


def test_bench_system_log_lines_are_about_a_third_of_a_kilobyte() -> None:
    assert 300 < SYSTEM_LOG_BYTES < 450  # START + END + REPORT, each with its event overhead


def test_bench_ours_pays_only_for_what_our_code_logs_and_the_original_for_start_end_report() -> None:
    run = _run(10)
    records: list[Record] = [_invoke("connect") for _ in range(10)]
    records += [_invoke("views") for _ in range(10)]
    records.append(_invoke("connect", log_lines=2, log_bytes=300))
    prices = load_prices()
    ours = our_bill(run, records, prices).line("CloudWatch Logs KB ingested")
    original = original_bill(run, records, prices).line("CloudWatch Logs KB ingested")
    assert ours.per_view * 1024 == (300 + 2 * LOG_EVENT_OVERHEAD_BYTES) / 10
    assert original.per_view * 1024 == 21 * SYSTEM_LOG_BYTES / 10  # connect + views per view, and the extra one
    assert original.usd_per_million_views == original.per_view / 1024 / 1024 * 0.5 * 1_000_000


def test_bench_recorder_counts_the_bytes_a_handler_logs(tmp_path: Path) -> None:
    calls = tmp_path / "calls.jsonl"
    script = (
        "import json, sys\n"
        "from handlers import connect\n"
        "event = json.load(open(sys.argv[1]))\n"
        "event['headers']['Origin'] = 'https://elsewhere.example'\n"
        "connect.handler(event, None)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HOOKS), str(ROOT)]),
        "BENCH_CALL_LOG": str(calls),
        "STACK": "test",
        "ALLOWED_ORIGINS": '["https://blog.example.com"]',
    }
    result = subprocess.run(
        [sys.executable, "-c", script, str(ROOT / "tests" / "events" / "ws_connect.json")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    [invoke] = [r for r in map(json.loads, calls.read_text().splitlines()) if r["kind"] == "invoke"]
    assert '"event":"connect_refused"' in result.stdout
    assert invoke["log_lines"] == 1
    assert invoke["log_bytes"] == len(result.stdout.encode())


def test_bench_referrer_merge_saves_the_referrer_marker_queue_and_consumer() -> None:
    run = _run(10)
    referred: dict[str, str | None] = {"eventType": "post_view", "has_referrer": "true"}
    records: list[Record] = [_invoke("views") for _ in range(10)]
    records += [
        {"kind": "call", "time": 1.0, "fn": "views", "service": "sns", "op": "Publish", "status": 200,
         "error": None, "retries": 0, "attributes": referred, "bytes": 100},
        {"kind": "call", "time": 1.0, "fn": "sqs-referrer", "service": "sqs", "op": "ReceiveMessage", "status": 200,
         "error": None, "retries": 0, "messages": 1},
        {"kind": "call", "time": 1.0, "fn": "referrer-counter", "service": "dynamodb", "op": "TransactWriteItems",
         "status": 200, "error": None, "retries": 0, "transact_write": [("Update", 100), ("Put", 100)]},
        _invoke("referrer-counter"),
    ]  # fmt: skip
    prices = load_prices()
    ours = our_bill(run, records, prices)
    [merge] = [o for o in options(ours, prices, run) if o.change.startswith("referrer increment")]
    facts = ours.facts
    assert facts["referrer_marker_wru"] == 2 / 10  # the Put, not the Update: the update moves, it stays
    assert facts["referrer_invokes"] == 1 / 10
    # one delivery, one busy receive, and the referrer queue's share of idle polling over the 2 s window
    assert facts["referrer_sqs_requests"] == (2 + 2 * 5 / 20) / 10
    assert merge.saves_usd_per_million > facts["referrer_marker_wru"] * 0.625


def test_bench_a_saturated_run_bills_every_view_the_stack_received() -> None:
    run = _run(10)
    for view in run.views[5:]:
        view.ok = False  # received and worked on, but the reply came too late
    records: list[Record] = [_invoke("views") for _ in range(10)]
    prices = load_prices()
    assert our_bill(run, records, prices).line("Lambda requests").per_view == 1.0
    assert original_bill(run, records, prices).line("Lambda requests").per_view == 1.0
