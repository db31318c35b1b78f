"""`make bench`: run every benchmark and write bench/RESULTS.md.

Benchmarks are never tests: nothing here is collected by pytest (tests/ is the only
testpath and no file here is named test_*).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import client_size, coldstart, cost, live, project, series, series_report
from bench.freshness import POLL_SECONDS, freshness
from bench.load import run_load
from bench.machine import describe, load_average, process_cpu_seconds
from bench.report import LoadResult, Results, render
from bench.stack import local_stack, read_calls
from handlers.wiring import DEFAULT_LIVE_INTERVAL_SECONDS

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
LIVE_OFF = ("--live-interval", "0")
"""The load runs' stacks: the cost goal compares counting with counting, so live counts are
off (no pushes, no readingNow, nothing in Connections), as `liveIntervalSeconds: 0` deploys
them. The live part prices live counts on top, per reader count and interval."""
PARTS = ("load", "cold", "client", "report", "live")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--slow-rate", type=float, default=1.0, help="views/s of the first load (default 1)")
    parser.add_argument("--slow-seconds", type=float, default=30.0, help="its duration (default 30)")
    parser.add_argument(
        "--busy-rate",
        type=float,
        default=10.0,
        help="views/s of the second load (default 10, what this machine serves)",
    )
    parser.add_argument("--busy-seconds", type=float, default=20.0, help="its duration (default 20)")
    parser.add_argument("--fast-rate", type=float, default=100.0, help="views/s of the third load (default 100)")
    parser.add_argument("--fast-seconds", type=float, default=10.0, help="its duration (default 10)")
    parser.add_argument(
        "--drain-seconds", type=float, default=30.0, help="longest wait for the last view to be counted"
    )
    parser.add_argument(
        "--session-minutes", type=int, default=cost.SESSION_MINUTES, help="billed connection minutes per view"
    )
    parser.add_argument("--cold-runs", type=int, default=10, help="fresh processes per variant and module")
    parser.add_argument("--skip", action="append", choices=PARTS, default=[], help="leave a part out (repeatable)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write (default bench/RESULTS.md)")
    return parser.parse_args(argv)


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def load_part(
    rate: float,
    seconds: float,
    args: argparse.Namespace,
    prices: dict[str, Any],
    durations: cost.DurationModel | None = None,
) -> tuple[LoadResult, cost.DurationModel]:
    """One load driven through a fresh local stack; also the duration model of its invocations."""
    label = f"Steady {rate:g} view{'s' if rate != 1 else ''}/s, measured, live counts off"
    say(f"{label}: {rate:g} views/s for {seconds:g} s on a fresh local stack")
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        workdir = Path(tmp)
        with local_stack(workdir, LIVE_OFF) as stack:
            cpu_before, wall_before = process_cpu_seconds(stack.pid), time.monotonic()
            run = run_load(stack, rate, seconds, POLL_SECONDS, args.drain_seconds)
            cpu_after, wall = process_cpu_seconds(stack.pid), time.monotonic() - wall_before
            history = series.measure(stack, run)
        records = read_calls(stack.calls_path)
    ours = cost.our_bill(run, records, prices, args.session_minutes, durations)
    original = cost.original_bill(run, records, prices, args.session_minutes, durations)
    fresh = freshness(run)
    say(f"{label}: series {series.describe(history)}")
    say(
        f"{label}: {len(run.ok)}/{len(run.views)} ok, ours ${ours.usd_per_million_views:.2f}/M, "
        f"original ${original.usd_per_million_views:.2f}/M, counted p99 {fresh.counted_p99:.2f} s"
    )
    model = cost.duration_model(cost.invocations(cost.in_window(records, run)))
    options = cost.options(ours, prices, run)
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    result = LoadResult(label, rate, seconds, ours, original, options, fresh, series=history)
    result.stack_cpu_seconds, result.stack_wall_seconds = cpu, wall
    result.counting_seconds = run.drained - run.started
    return result, model


def projected_part(
    rate: float, args: argparse.Namespace, prices: dict[str, Any], durations: cost.DurationModel
) -> LoadResult:
    run, records = project.synthesise(rate, durations)
    ours = cost.our_bill(run, records, prices, args.session_minutes, durations)
    original = cost.original_bill(run, records, prices, args.session_minutes, durations)
    label = f"Steady {rate:g} views/s, projected"
    say(f"{label}: ours ${ours.usd_per_million_views:.2f}/M, original ${original.usd_per_million_views:.2f}/M")
    return LoadResult(label, rate, project.SECONDS, ours, original, cost.options(ours, prices, run), None)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    prices = cost.load_prices()
    results = Results(machine=describe(), prices=prices, elapsed_seconds=0.0, skipped=list(args.skip))
    if "load" not in args.skip:
        # The calm run's durations price the busier runs' GB-seconds: on this machine a busy
        # run's handlers wait for the CPU, which a Lambda container would not.
        slow, calm = load_part(args.slow_rate, args.slow_seconds, args, prices)
        busy, _ = load_part(args.busy_rate, args.busy_seconds, args, prices, calm)
        busy.check = projected_part(args.busy_rate, args, prices, calm)
        # Driven for real since the local stack calls moto in-process (local/in_process.py);
        # the projection at the same rate checks the model against it.
        fast, _ = load_part(args.fast_rate, args.fast_seconds, args, prices, calm)
        fast.check = projected_part(args.fast_rate, args, prices, calm)
        results.loads += [slow, busy, fast]
    if "cold" not in args.skip:
        say(f"cold start: {args.cold_runs} interleaved runs per module, and the package sizes")
        results.cold, results.sizes = coldstart.run(args.cold_runs)
    if "client" not in args.skip:
        say("client size")
        results.client = client_size.measure()
    if "report" not in args.skip:
        say("the owner's report over a year of hourly rows for 500 posts")
        results.series_report = series_report.measure()
    live_lines: list[str] = []
    if "live" not in args.skip:
        say("live counts: 1, 10 and 100 readers per post, views at the busy rate")
        shape = argparse.Namespace(rate=args.busy_rate, seconds=args.busy_seconds, drain_seconds=args.drain_seconds)
        live_lines = live.render(live.run([1, 10, 100], [1, DEFAULT_LIVE_INTERVAL_SECONDS], shape, prices))
    results.elapsed_seconds = time.monotonic() - started
    results.machine["load_after"] = load_average()
    args.output.write_text(render(results) + "\n".join(["", *live_lines]))
    say(f"wrote {args.output} in {results.elapsed_seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
