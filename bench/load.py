"""A steady stream of page views through the local stack, and when each one was counted.

Each view is one page session as the client makes it: open a WebSocket with the
blog's Origin, send one `views` frame, read the reply. The client keeps its socket
open while the page is open; here it is closed after the reply so that a run at 100
views/s does not hold thousands of idle sockets (connection minutes are modelled in
bench/cost.py instead). Meanwhile a reader polls PostCountReader, as a blog page
would see it, and records when each article's total changed.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect
from websockets.typing import Origin

from bench.stack import Stack
from handlers.wiring import POST_COUNT_READER

ARTICLES = 20
EXTERNAL_REFERRERS = (
    "https://news.ycombinator.com/item",
    "https://www.google.com/",
    "https://www.reddit.com/r/programming/comments/abc",
    "https://lobste.rs/s/xyz",
    "https://duckduckgo.com/",
)
REPLY_TIMEOUT = 15.0


@dataclass(frozen=True)
class Workload:
    """The mix of views: a blog's post, home and profile pages, some from elsewhere."""

    post_share: float = 0.60
    home_share: float = 0.25
    referred_share: float = 0.30
    refreshed_share: float = 0.10
    seed: int = 6


def plan_views(count: int, workload: Workload = Workload()) -> list[dict[str, Any]]:
    """Pure: `count` views messages; posts follow a Zipf-like popularity over ARTICLES."""
    rng = random.Random(workload.seed)
    weights = [1 / (rank + 1) for rank in range(ARTICLES)]
    views = []
    for _ in range(count):
        draw = rng.random()
        message: dict[str, Any] = {"message": "views", "refreshed": rng.random() < workload.refreshed_share}
        if draw < workload.post_share:
            n = rng.choices(range(ARTICLES), weights)[0]
            message |= {
                "articleId": f"post-{n:02d}",
                "articleTitle": f"Post {n}",
                "currentPage": f"/posts/post-{n:02d}",
            }
        elif draw < workload.post_share + workload.home_share:
            message["currentPage"] = "/"
        else:
            message["currentPage"] = rng.choice(("/pages/about", "/pages/contacts"))
        if rng.random() < workload.referred_share:
            message["referrer"] = rng.choice(EXTERNAL_REFERRERS)
        else:
            message["previousPage"] = "/"
        views.append(message)
    return views


@dataclass
class ViewResult:
    message: dict[str, Any]
    started: float = 0.0
    """Before the WebSocket handshake (which runs $connect)."""
    sent: float = 0.0
    replied: float | None = None
    ok: bool = False
    error: str | None = None
    counted: float | None = None
    """When PostCountReader first showed this view (posts only), see attribute_counted."""

    @property
    def article_id(self) -> str | None:
        return self.message.get("articleId")


@dataclass
class LoadRun:
    rate: float
    seconds: float
    views: list[ViewResult]
    started: float
    sent_all: float
    drained: float
    """When the last post view was visible in PostCountReader (or the drain deadline)."""
    frames_in: int = 0
    frames_out: int = 0
    connections: int = 0
    timeline: dict[str, list[tuple[float, int]]] = field(default_factory=dict)

    @property
    def ok(self) -> list[ViewResult]:
        return [v for v in self.views if v.ok]


async def _one_view(stack: Stack, view: ViewResult, run: LoadRun) -> None:
    view.started = time.time()
    try:
        async with connect(
            stack.ready.ws_url, origin=Origin(stack.ready.origin), compression=None, open_timeout=REPLY_TIMEOUT
        ) as ws:
            run.connections += 1
            view.sent = time.time()
            await ws.send(json.dumps(view.message))
            run.frames_in += 1
            reply = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT))
            while reply.get("message") == "counts":  # a live push may come before the reply
                reply = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT))
            run.frames_out += 1
            view.replied = time.time()
            view.ok = reply.get("status") == "ok"
            if not view.ok:
                view.error = str(reply.get("error"))
    except Exception as exc:  # a failed view is reported, not fatal
        view.error = type(exc).__name__


async def _warm_up(stack: Stack, count: int = 5) -> None:
    """`stats` frames change no count: they warm the gateway path before the clock starts."""
    async with connect(stack.ready.ws_url, origin=Origin(stack.ready.origin), compression=None) as ws:
        for _ in range(count):
            await ws.send(json.dumps({"message": "stats"}))
            await ws.recv()


async def _drive(stack: Stack, run: LoadRun) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for i, view in enumerate(run.views):
        delay = start + i / run.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_one_view(stack, view, run)))
    run.sent_all = time.time()
    await asyncio.gather(*tasks)


class ReaderPoller(threading.Thread):
    """Scans PostCountReader every `interval` s and keeps each article's total when it changes."""

    def __init__(self, stack: Stack, interval: float) -> None:
        super().__init__(name="reader-poller", daemon=True)
        self.interval = interval
        self.ready = stack.ready
        self.ddb = stack.ready.client("dynamodb")  # this thread's own client
        self.timeline: dict[str, list[tuple[float, int]]] = {}
        self.stop = threading.Event()
        self.expected: dict[str, int] | None = None
        self.done = threading.Event()

    def totals(self) -> dict[str, int]:
        items = self.ready.scan(POST_COUNT_READER, self.ddb)
        return {item["articleId"]["S"]: int(item["totalViews"]["N"]) for item in items}

    def run(self) -> None:
        while not self.stop.is_set():
            totals = self.totals()
            seen = time.time()  # after the scan returned: an upper bound on when the count was visible
            for article, total in totals.items():
                line = self.timeline.setdefault(article, [])
                if not line or line[-1][1] != total:
                    line.append((seen, total))
            expected = self.expected
            if expected is not None and all(totals.get(a, 0) >= n for a, n in expected.items()):
                self.done.set()
                return
            self.stop.wait(self.interval)


def attribute_counted(views: list[ViewResult], timeline: dict[str, list[tuple[float, int]]]) -> None:
    """Pure (sets ViewResult.counted): the k-th post view sent for an article counts as
    visible when that article's total first reached k. Counts only grow, so this is
    exact for "the count includes this many views" and never earlier than the send."""
    by_article: dict[str, list[ViewResult]] = {}
    for view in views:
        if view.ok and view.article_id is not None:
            by_article.setdefault(view.article_id, []).append(view)
    for article, sent in by_article.items():
        line = timeline.get(article, [])
        for k, view in enumerate(sorted(sent, key=lambda v: v.sent), start=1):
            view.counted = next((t for t, total in line if total >= k), None)


def run_load(stack: Stack, rate: float, seconds: float, poll_interval: float, drain_seconds: float) -> LoadRun:
    """Send rate x seconds views, then wait until every post view shows in PostCountReader."""
    asyncio.run(_warm_up(stack))
    views = [ViewResult(m) for m in plan_views(round(rate * seconds))]
    reader = ReaderPoller(stack, poll_interval)
    run = LoadRun(rate, seconds, views, started=time.time(), sent_all=0.0, drained=0.0)
    reader.start()
    asyncio.run(_drive(stack, run))
    expected: dict[str, int] = {}
    for view in run.ok:
        if view.article_id is not None:
            expected[view.article_id] = expected.get(view.article_id, 0) + 1
    reader.expected = expected
    reader.done.wait(drain_seconds)
    reader.stop.set()
    reader.join(5)
    run.drained = time.time()
    run.timeline = reader.timeline
    attribute_counted(run.views, run.timeline)
    return run
