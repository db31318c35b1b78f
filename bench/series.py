"""What the history costs: the series consumers' write units per view (goal: under 1.5).

The series functions gather records for their batching window (handlers/wiring.py), so they
write after the last view is counted: the load waits until every post's, page's and
referrer's snapshot holds its count, and the units are taken from the first view until
then. `python -m bench.series` runs only this piece, on a fresh local stack:

    python -m bench.series --rate 10 --seconds 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import cost
from bench.freshness import POLL_SECONDS
from bench.load import LoadRun, run_load
from bench.records import Record
from bench.stack import Stack, local_stack, read_calls
from handlers.wiring import HOME_AND_PROFILE, POST_COUNT_WRITER, REFERRER, SERIES, WIRING

GOAL_WRU_PER_VIEW = 1.5
SERIES_FUNCTIONS = frozenset(f.name for f in WIRING.functions if f.module == "handlers.series")
WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class SeriesCost:
    views: int
    wru: Counter[str]
    """Write units by what they were spent on (`UpdateItem by series-posts`, ...)."""
    caught_up: bool
    """Every snapshot held its count before the deadline (else the figure is a lower bound)."""

    @property
    def per_view(self) -> float:
        return sum(self.wru.values()) / max(1, self.views)


def behind(series: list[dict[str, Any]], counts: dict[str, list[dict[str, Any]]]) -> int:
    """Pure: how many posts, pages and referrer targets the snapshots do not yet hold."""
    highest: dict[tuple[str, str], int] = {}
    for item in series:
        key, bucket = item["seriesKey"]["S"], item["bucket"]["S"]
        kind = key.split("#", 1)[0]
        name = "views" if kind == "ref" else "totalViews"
        where = (key, bucket.split("#", 1)[1] if kind == "ref" else "")
        highest[where] = max(highest.get(where, 0), int(item.get(name, {"N": "0"})["N"]))
    wanted: list[tuple[tuple[str, str], int]] = []
    for row in counts[POST_COUNT_WRITER]:
        wanted.append(((f"post#{row['articleId']['S']}", ""), int(row["totalViews"]["N"])))
    for row in counts[HOME_AND_PROFILE]:
        wanted.append(((f"page#{row['pageName']['S']}", ""), int(row["totalViews"]["N"])))
    for row in counts[REFERRER]:
        target = row["target"]["S"].replace(":", "#", 1)
        wanted.append(((f"ref#{row['referrer']['S']}", target), int(row["views"]["N"])))
    return sum(highest.get(key, 0) < count for key, count in wanted)


def wait_for_series(stack: Stack, timeout: float) -> tuple[float, bool]:
    """(when, caught up): poll until every snapshot holds its count or the deadline passes."""
    ddb = stack.ready.client("dynamodb")
    deadline = time.time() + timeout
    while True:
        counts = {t: stack.ready.scan(t, ddb) for t in (POST_COUNT_WRITER, HOME_AND_PROFILE, REFERRER)}
        if behind(stack.ready.scan(SERIES, ddb), counts) == 0:
            return time.time(), True
        if time.time() > deadline:
            return time.time(), False
        time.sleep(POLL_SECONDS)


def series_cost(records: list[Record], run: LoadRun, until: float, caught_up: bool) -> SeriesCost:
    """Pure: the series functions' write units from the run's first view until `until`."""
    calls = [
        r
        for r in cost.aws_calls(r for r in records if r["kind"] != "hook_error")
        if r["fn"] in SERIES_FUNCTIONS and run.started <= r["time"] <= until
    ]
    return SeriesCost(len(run.ok), cost.dynamodb_units(calls).wru, caught_up)


def measure(stack: Stack, run: LoadRun, timeout: float = WAIT_SECONDS) -> SeriesCost:
    until, caught_up = wait_for_series(stack, timeout)
    return series_cost(read_calls(stack.calls_path), run, until, caught_up)


def describe(result: SeriesCost) -> str:
    parts = "; ".join(f"{what} {n / max(1, result.views):.3f}" for what, n in sorted(result.wru.items()))
    lag = "" if result.caught_up else " (the series had not caught up: a lower bound)"
    return f"{result.per_view:.3f} WRU per view over {result.views} views{lag}: {parts}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.series", description=__doc__)
    parser.add_argument("--rate", type=float, default=10.0, help="views/s (default 10)")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration (default 20)")
    parser.add_argument("--drain-seconds", type=float, default=30.0, help="longest wait for the counts")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-series-") as tmp, local_stack(Path(tmp)) as stack:
        run = run_load(stack, args.rate, args.seconds, POLL_SECONDS, args.drain_seconds)
        result = measure(stack, run)
    print(f"series at {args.rate:g} views/s: {describe(result)}; goal under {GOAL_WRU_PER_VIEW}")
    return 0 if result.caught_up and result.per_view < GOAL_WRU_PER_VIEW else 1


if __name__ == "__main__":
    sys.exit(main())
