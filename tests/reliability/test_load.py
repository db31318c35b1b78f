"""Load on the local stack: concurrent WebSocket clients, exact counts, nothing dead-lettered.

Reply latency is the time from sending a view to its reply. Time until counted is,
per view, the time from sending it until the reader's totalViews for its article
reached the number of views sent to that article up to and including this one.
Both are reported, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets
from websockets.typing import Origin

from handlers.wiring import WIRING

from .conftest import PROFILE, Figures, Profile
from .stack import LocalStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PROFILE.timeout_seconds)]
POLL_SECONDS = 0.1
REPLY_SECONDS = 60


@dataclass
class LoadRun:
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(articleId, total|unique) -> views sent."""
    replies: list[dict[str, Any]] = field(default_factory=list)
    reply_seconds: list[float] = field(default_factory=list)
    counted_seconds: list[float] = field(default_factory=list)
    uncounted: int = 0
    send_seconds: float = 0.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else float("nan")


def plan_views(profile: Profile) -> list[list[tuple[str, bool]]]:
    rng = random.Random("load")
    articles = [f"load-{i:02d}" for i in range(profile.load_articles)]
    views = [(rng.choice(articles), rng.random() < 0.3) for _ in range(profile.load_views)]
    return [views[c :: profile.load_clients] for c in range(profile.load_clients)]


async def run_load(stack: LocalStack, profile: Profile, run: LoadRun) -> None:
    ordinal: Counter[str] = Counter()
    waiting: dict[str, deque[tuple[int, float]]] = {}
    ddb = stack.ready.client("dynamodb", max_attempts=5)
    done = asyncio.Event()

    async def client(views: list[tuple[str, bool]]) -> None:
        async with websockets.connect(
            stack.ready.ws_url, origin=Origin(stack.ready.origin), open_timeout=REPLY_SECONDS
        ) as ws:
            for article, refreshed in views:
                ordinal[article] += 1
                run.sent[(article, "total")] += 1
                run.sent[(article, "unique")] += 0 if refreshed else 1
                start = time.monotonic()
                waiting.setdefault(article, deque()).append((ordinal[article], start))
                body = {
                    "message": "views",
                    "articleId": article,
                    "articleTitle": article.title(),
                    "refreshed": refreshed,
                }
                await ws.send(json.dumps(body))
                reply = json.loads(await asyncio.wait_for(ws.recv(), REPLY_SECONDS))
                while reply.get("message") == "counts":  # live pushes share the socket
                    reply = json.loads(await asyncio.wait_for(ws.recv(), REPLY_SECONDS))
                run.reply_seconds.append(time.monotonic() - start)
                run.replies.append(reply)

    async def watch() -> None:
        deadline = None
        while True:
            totals = await asyncio.to_thread(stack.counts, "PostCountReader", "articleId", ddb)
            now = time.monotonic()
            for article, queue in waiting.items():
                total = totals.get(article, (0, 0))[0]
                while queue and queue[0][0] <= total:
                    run.counted_seconds.append(now - queue.popleft()[1])
            if done.is_set():
                deadline = deadline or now + profile.settle_seconds
                if not any(waiting.values()) or now > deadline:
                    run.uncounted = sum(len(q) for q in waiting.values())
                    return
            await asyncio.sleep(POLL_SECONDS)

    watcher = asyncio.create_task(watch())
    start = time.monotonic()
    await asyncio.gather(*(client(views) for views in plan_views(profile)))
    run.send_seconds = time.monotonic() - start
    done.set()
    await watcher


@pytest.fixture(scope="module")
def load(stack: LocalStack, profile: Profile, figures: Figures) -> Iterator[LoadRun]:
    run = LoadRun()
    asyncio.run(run_load(stack, profile, run))
    stack.settle(profile.settle_seconds)
    n = len(run.reply_seconds)
    figures.add(
        "Load",
        f"{profile.load_clients} concurrent WebSocket clients sent {n} views over {profile.load_articles} articles "
        f"(30% refreshed) in {run.send_seconds:.1f} s ({n / run.send_seconds:.0f} views/s)",
    )
    figures.add(
        "Load",
        f"reply latency p50 {percentile(run.reply_seconds, 50) * 1000:.0f} ms, "
        f"p99 {percentile(run.reply_seconds, 99) * 1000:.0f} ms; time until counted (reader) "
        f"p50 {percentile(run.counted_seconds, 50):.2f} s, p99 {percentile(run.counted_seconds, 99):.2f} s",
    )
    yield run


def expected(run: LoadRun) -> dict[str, tuple[int, int]]:
    return {a: (run.sent[(a, "total")], run.sent[(a, "unique")]) for a, _ in run.sent}


def test_load_every_view_answered_ok(load: LoadRun, profile: Profile) -> None:
    assert len(load.replies) == profile.load_views
    assert [r for r in load.replies if r.get("message") != "views" or r.get("status") != "ok"] == []


def test_load_writer_totals_and_uniques_exact(load: LoadRun, stack: LocalStack) -> None:
    assert stack.counts("PostCountWriter", "articleId") == expected(load)


def test_load_reader_totals_and_uniques_exact(load: LoadRun, stack: LocalStack) -> None:
    assert stack.counts("PostCountReader", "articleId") == expected(load)


def test_load_every_view_seen_counted_in_the_reader(load: LoadRun, profile: Profile) -> None:
    assert load.uncounted == 0 and len(load.counted_seconds) == profile.load_views


def test_load_no_message_in_any_dlq(load: LoadRun, stack: LocalStack) -> None:
    depths = stack.dlq_depths()
    # Every counter queue's DLQ and each repaired stream's failure-queue DLQ.
    expected = len(WIRING.queues) + sum(1 for s in WIRING.streams if s.repair is not None)
    assert len(depths) == expected and set(depths.values()) == {0}, depths


def test_load_no_handler_exception(load: LoadRun, stack: LocalStack) -> None:
    assert stack.handler_failures() == []
