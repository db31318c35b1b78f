"""bench/report.py: the goals table holds issue 15's goals."""

from __future__ import annotations

import os
import time

from bench.coldstart import PYDANTIC_FLOOR, ColdStart, Sizes
from bench.cost import Bill, Line
from bench.freshness import Freshness
from bench.machine import process_cpu_seconds
from bench.report import LoadResult, Results, render

MACHINE = {
    "date": "2026-11-29",
    "commit": "abc",
    "nproc": "2",
    "cpu": "x",
    "memory": "1 GiB",
    "os": "Linux",
    "python": "3.11",
    "load_before": "1",
}
PRICES = {"source": "s", "region": "us-east-1", "as_known_on": "2026-11-28", "caveat": "c"}


def _bill(usd_per_million: float) -> Bill:
    return Bill("b", 100, [Line("DynamoDB write units", usd_per_million, 1 / 1_000_000)])


def _load(rate: float, ours: float, original: float) -> LoadResult:
    return LoadResult(f"{rate:g}", rate, 10.0, _bill(ours), _bill(original), [], None)


def _cold(module: str, ratio: float, validates: bool) -> ColdStart:
    return ColdStart(module, ["f"], [], 1.0, 1.0, 1.0, ratio, ratio, validates)


def _goals(results: Results) -> list[str]:
    text = render(results)
    table = text.split("## Goals", 1)[1].split("\n## ", 1)[0]
    return [row for row in table.splitlines() if row.startswith("| ") and not row.startswith("| Goal")]


def test_report_cost_goal_is_the_ratio_to_the_original_at_10_and_100_views_per_second() -> None:
    results = Results(MACHINE, PRICES, 1.0, loads=[_load(1, 9.0, 6.0), _load(10, 7.2, 6.0), _load(100, 7.3, 6.0)])
    rows = [r for r in _goals(results) if "original design's bill" in r]
    assert len(rows) == 2
    assert "10 views/s" in rows[0] and "1.20x" in rows[0] and rows[0].endswith("| met |")
    assert "100 views/s" in rows[1] and "1.22x" in rows[1] and rows[1].endswith("| **missed** |")


def test_report_cost_gap_lists_each_line_item_against_the_original() -> None:
    results = Results(MACHINE, PRICES, 1.0, loads=[_load(100, 8.0, 5.0)])
    text = render(results)
    assert "ours is 1.60x the original design" in text
    assert "| DynamoDB write units | $8.00 | $5.00 | +3.000 |" in text


def test_report_cold_start_goal_depends_on_whether_the_module_loads_pydantic() -> None:
    cold = [
        _cold("handlers.connect", 1.14, validates=False),
        _cold("handlers.default", 1.16, validates=False),
        _cold("handlers.views", 1.39, validates=True),
        ColdStart(PYDANTIC_FLOOR, [], [], 1.0, 1.0, 1.0, 1.36, 1.36, True),
    ]
    rows = _goals(Results(MACHINE, PRICES, 1.0, cold=cold))
    plain = next(r for r in rows if "without pydantic" in r)
    validating = next(r for r in rows if "validating" in r)
    assert "1.15x" in plain and "worst 1.16x (handlers.default)" in plain and plain.endswith("| **missed** |")
    assert "1.4x" in validating and "worst 1.39x (handlers.views)" in validating and validating.endswith("| met |")


def test_report_package_goal_is_code_and_layer_under_4_mb() -> None:
    sizes = Sizes(130.0, 42.0, 3537.0, 2544.0, 9516.0, ["pydantic"])
    [row] = [r for r in _goals(Results(MACHINE, PRICES, 1.0, sizes=sizes)) if "package" in r]
    assert "3.58 MB" in row and row.endswith("| met |")


def test_report_cpu_per_view_and_how_fast_the_busiest_run_was_counted() -> None:
    def driven(rate: float, views: int, cpu: float | None, never: int = 0) -> LoadResult:
        fresh = Freshness(rate, views, 0, 0.04, 0.1, 0.2, views, 0.3, 0.4, never, rate)
        load = LoadResult(f"{rate:g}", rate, 10.0, _bill(9), _bill(6), [], fresh, stack_cpu_seconds=cpu)
        load.stack_wall_seconds, load.counting_seconds = 50.0, 40.0
        return load

    results = Results(MACHINE, PRICES, 60.0, loads=[driven(100, 1000, 25.0), driven(10, 200, 8.0)])
    assert [load.cpu_ms_per_view for load in results.loads] == [25.0, 40.0]
    text = render(results)
    assert "25.0 ms at 100 views/s, 40.0 ms at 10 views/s" in text
    # The busiest run by rate, wherever it is listed: 1000 views counted in 40 s, 25 s of CPU in 50 s.
    assert "At 100 views/s it used 0.50 of a core" in text and "40.0 s after the first view: 25 views/s" in text
    uncounted = Results(MACHINE, PRICES, 60.0, loads=[driven(10, 200, 8.0, never=3)])
    assert "40.0 ms at 10 views/s" in render(uncounted) and "views/s counted" not in render(uncounted)
    unknown = Results(MACHINE, PRICES, 60.0, loads=[driven(10, 200, None)])
    assert "CPU per view" not in render(unknown), "no /proc: no figure made up"


def test_machine_process_cpu_seconds_reads_this_process_and_none_for_no_process() -> None:
    before = process_cpu_seconds(os.getpid())
    assert before is not None
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    after = process_cpu_seconds(os.getpid())
    assert after is not None and after - before >= 0.2
    assert process_cpu_seconds(2**22 + 12345) is None
