"""The Series table read back as a report would, and held to the count tables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from handlers import series
from handlers.wiring import HOME_AND_PROFILE, POST_COUNT_WRITER, REFERRER, SERIES, WIRING
from support.aws import Cloud

HOUR_SECONDS = 3600
START = 1_795_824_000  # 2026-11-28T00:00Z


def timed(records: Iterable[dict[str, Any]], start: int = START, step: int = 600) -> list[dict[str, Any]]:
    """Stream records in their order, committed `step` seconds apart from `start` (epoch seconds)."""
    out = []
    for i, record in enumerate(records):
        record["dynamodb"]["ApproximateCreationDateTime"] = start + i * step
        out.append(record)
    return out


def all_records(cloud: Cloud, start: int = START, step: int = 600) -> dict[str, list[dict[str, Any]]]:
    """Each series function's stream, timed: function name -> its records in stream order."""
    return {
        s.function: timed(cloud.stream(s.table).records, start, step)
        for s in WIRING.streams
        if s.function.startswith("series-")
    }


def feed(records: list[dict[str, Any]], size: int = 7) -> None:
    """Records to the series handler in batches, each retried until it is accepted."""
    for begin in range(0, len(records), size):
        batch = records[begin : begin + size]
        for _ in range(20):
            failed = {f["itemIdentifier"] for f in series.handler({"Records": batch}, None)["batchItemFailures"]}
            if not failed:
                break
            batch = [r for r in batch if r["dynamodb"]["SequenceNumber"] in failed]
        else:
            raise AssertionError("a series batch never succeeded")


def series_items(cloud: Cloud) -> dict[str, list[tuple[str, dict[str, int]]]]:
    """seriesKey -> [(bucket, numbers)] in bucket order."""
    found: dict[str, list[tuple[str, dict[str, int]]]] = {}
    for item in cloud.items(SERIES):
        numbers = {k: int(v["N"]) for k, v in item.items() if "N" in v}
        found.setdefault(item["seriesKey"]["S"], []).append((item["bucket"]["S"], numbers))
    return {k: sorted(v) for k, v in found.items()}


def hourly_views(snapshots: list[tuple[str, dict[str, int]]], name: str) -> list[int]:
    """Views per bucket: each snapshot minus the previous one (DESIGN.md)."""
    previous, views = 0, []
    for _, numbers in snapshots:
        views.append(numbers.get(name, 0) - previous)
        previous = numbers.get(name, 0)
    return views


def series_mismatches(cloud: Cloud) -> list[str]:
    """Every key whose series does not sum to its count, or has a negative bucket."""
    items = series_items(cloud)
    problems: list[str] = []

    def check(series_key: str, name: str, count: int, snapshots: list[tuple[str, dict[str, int]]]) -> None:
        views = hourly_views(snapshots, name)
        if sum(views) != count or any(v < 0 for v in views):
            problems.append(f"{series_key} {name}: series {views} (sum {sum(views)}), count {count}")

    for table, key, kind in ((POST_COUNT_WRITER, "articleId", "post"), (HOME_AND_PROFILE, "pageName", "page")):
        for row in cloud.items(table):
            series_key = f"{kind}#{row[key]['S']}"
            for name in ("totalViews", "uniqueViews"):
                check(series_key, name, int(row.get(name, {"N": "0"})["N"]), items.get(series_key, []))
    for row in cloud.items(REFERRER):
        origin, target = row["referrer"]["S"], series.target_key(row["target"]["S"])
        days = [(b, n) for b, n in items.get(f"ref#{origin}", []) if b.split("#", 1)[1] == target]
        check(f"ref#{origin} {target}", "views", int(row["views"]["N"]), days)
    return problems
