"""Live counts: from a view to the push reaching another reader, and what live costs per view.

`python -m bench.live` (also a part of `make bench`): on a fresh local stack, `readers`
connections read one post; one more connection views it `rate` times a second (the same
connection, so readingNow stays put and only the counts move). For each view, the latency
is from its send to the first push, at each reader, whose totalViews includes it.

Live's cost per view is what it adds: the pushes (an API Gateway message each), the
Connections table's reads and writes (views' reader bookkeeping and readingNow query, the
fan-out's memberships and follower queries) and the fan-out's counts reads, priced at the
list prices of bench/prices.json. Lambda time of the fan-out is left out (a few ms per batch,
one batch per interval).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from bench import cost
from bench.freshness import percentile
from bench.records import CallRecord
from bench.stack import Stack, local_stack, read_calls
from handlers.wiring import DEFAULT_LIVE_INTERVAL_SECONDS, LIVE_FUNCTIONS

GOAL_P99_SECONDS = 2.0
LIVE_OPERATIONS_OF_VIEWS = ("UpdateItem", "PutItem", "Query")
"""What views does for live (beside its counts read), from its side-by-side threads."""


@dataclass(frozen=True)
class LiveResult:
    interval: int
    readers: int
    rate: float
    views: int
    latency_p50: float
    latency_p99: float
    missed: int
    """(view, reader) pairs no push covered before the drain ended."""
    pushes_per_view: float
    usd_per_million_views: float
    push_usd: float
    dynamodb_usd: float


class Follower(threading.Thread):
    """A reader of the post: records (time received, totalViews) of each push."""

    def __init__(self, ws: ClientConnection) -> None:
        super().__init__(daemon=True)
        self.ws = ws
        self.pushes: list[tuple[float, int]] = []

    def run(self) -> None:
        try:
            for frame in self.ws:
                message = json.loads(frame)
                if message.get("message") == "counts":
                    self.pushes.append((time.time(), int(message["totalViews"])))
        except Exception:  # the socket closes at the end of the run
            return


def _open(stack: Stack) -> ClientConnection:
    return connect(stack.ready.ws_url, origin=Origin(stack.ready.origin), open_timeout=10).__enter__()


def _ask(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps(message))
    while True:
        reply: dict[str, Any] = json.loads(ws.recv(15))
        if reply.get("message") != "counts":
            return reply


def _live_calls(records: Sequence[Any], since: float) -> list[CallRecord]:
    calls: list[CallRecord] = []
    for record in records:
        if record.get("kind") != "call" or record["time"] < since:
            continue
        fn = str(record.get("fn"))
        # Pushes run on the fan-out's own threads (live-push_N), which the recorder names instead.
        by_fan_out = fn in LIVE_FUNCTIONS or fn == "disconnect" or record.get("op") == "PostToConnection"
        by_views = fn.startswith("aws") and record.get("op") in LIVE_OPERATIONS_OF_VIEWS
        if by_fan_out or by_views:
            calls.append(record)
    return calls


def measure(
    readers: int, rate: float, seconds: float, drain: float, prices: dict[str, Any], interval: int
) -> LiveResult:
    article = f"live-bench-{readers}-{int(time.time())}"
    launch = ("--live-interval", str(interval))
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp, local_stack(Path(tmp), launch) as stack:
        followers = []
        for _ in range(readers):
            ws = _open(stack)
            _ask(ws, {"message": "views", "articleId": article, "articleTitle": "Live bench"})
            follower = Follower(ws)
            follower.start()
            followers.append(follower)
        sender = _open(stack)
        time.sleep(3)  # the readers' own views counted and pushed before the clock starts
        base = max((p[1] for f in followers for p in f.pushes), default=readers)
        since = time.time()
        sent: list[float] = []
        for i in range(int(rate * seconds)):
            time.sleep(max(0.0, since + i / rate - time.time()))
            sent.append(time.time())
            _ask(sender, {"message": "views", "articleId": article, "articleTitle": "Live bench"})
        final = base + len(sent) + 1  # the sender's first view made it a reader too
        deadline = time.time() + drain
        while time.time() < deadline and not all(f.pushes and f.pushes[-1][1] >= final - 1 for f in followers):
            time.sleep(0.2)
        for ws in [sender, *(f.ws for f in followers)]:
            ws.close()
        records = read_calls(stack.calls_path)
    latencies: list[float] = []
    missed = 0
    for follower in followers:
        window = [p for p in follower.pushes if p[0] >= since]
        for k, at in enumerate(sent, start=1):
            covering = next((t for t, total in window if total >= base + k), None)
            if covering is None:
                missed += 1
            else:
                latencies.append(max(0.0, covering - at))
    calls = _live_calls(records, since)
    pushes = sum(1 for c in calls if c.get("op") == "PostToConnection")
    units = cost.dynamodb_units(calls)
    ddb = prices["dynamodb"]
    dynamodb_usd = (
        units.rru * ddb["usd_per_million_read_request_units"]
        + sum(units.wru.values()) * ddb["usd_per_million_write_request_units"]
    ) / max(len(sent), 1)
    push_usd = pushes * prices["api_gateway_websocket"]["usd_per_million_messages"] / max(len(sent), 1)
    return LiveResult(
        interval=interval,
        readers=readers,
        rate=rate,
        views=len(sent),
        latency_p50=percentile(latencies, 0.5),
        latency_p99=percentile(latencies, 0.99),
        missed=missed,
        pushes_per_view=pushes / max(len(sent), 1),
        usd_per_million_views=push_usd + dynamodb_usd,
        push_usd=push_usd,
        dynamodb_usd=dynamodb_usd,
    )


def render(results: Sequence[LiveResult]) -> list[str]:
    lines = [
        "## 5. Live counts",
        "",
        "One post, N readers, views at the stated rate from one more connection (which follows the post too); "
        f"the stack's default liveIntervalSeconds is {DEFAULT_LIVE_INTERVAL_SECONDS}. Latency: from a view's send "
        "to the first push at a reader whose totalViews includes it (goal p99 <= "
        f"{GOAL_P99_SECONDS:g} s locally at 10 views/s). Cost: what live adds per million views (pushes at "
        "$1.00 per million messages; Connections and the fan-out's DynamoDB units).",
        "",
        "| Interval | Readers | Views/s | Views | Latency p50 | p99 | Missed | Pushes per view "
        "| Live $/M views | pushes | DynamoDB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.interval} s | {r.readers} | {r.rate:g} | {r.views} | {r.latency_p50:.2f} s "
            f"| {r.latency_p99:.2f} s | {r.missed} | {r.pushes_per_view:.2f} | {r.usd_per_million_views:.2f} "
            f"| {r.push_usd:.2f} | {r.dynamodb_usd:.2f} |"
        )
    lines += [
        "",
        "`liveIntervalSeconds` trades freshness for cost: pushes per view fall as the window gathers more views "
        "into one push per reader, and a push waits up to one window longer.",
        "",
    ]
    return lines


def run(
    readers: Sequence[int], intervals: Sequence[int], args: argparse.Namespace, prices: dict[str, Any]
) -> list[LiveResult]:
    """Every reader count at the first interval, then the middle reader count at the others."""
    results = [measure(n, args.rate, args.seconds, args.drain_seconds, prices, intervals[0]) for n in readers]
    middle = sorted(readers)[len(readers) // 2]
    for interval in intervals[1:]:
        results.append(measure(middle, args.rate, args.seconds, args.drain_seconds, prices, interval))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__)
    parser.add_argument("--readers", type=int, action="append", help="readers per post (repeatable; default 1 10 100)")
    parser.add_argument("--rate", type=float, default=10.0, help="views/s (default 10)")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration per reader count (default 20)")
    parser.add_argument("--drain-seconds", type=float, default=20.0)
    parser.add_argument(
        "--interval", type=int, action="append", help="liveIntervalSeconds (repeatable; default 1 and 2)"
    )
    args = parser.parse_args(argv)
    prices = cost.load_prices()
    print(
        "\n".join(
            render(run(args.readers or [1, 10, 100], args.interval or [1, DEFAULT_LIVE_INTERVAL_SECONDS], args, prices))
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
