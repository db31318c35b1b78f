"""The work at a rate the local stack cannot serve here, projected from what it did serve.

On this shared 2-core machine the local stack (every function, moto and the pollers in
one Python process) sustains only a few tens of views per second, so 100 views/s is
projected, not driven. The projection synthesises the records the recorder would have
written and prices them with the same code as a measured run (bench/cost.py):

- per view, what does not depend on the rate: a $connect, a views and a $disconnect
  invocation, one GetItem, one Publish with the view's attributes, one frame in and
  one out; durations from the calm run (bench/cost.py duration_model);
- per queue, batches as Lambda's event source mapping forms them: each queue gets its
  share of the rate, and a batch holds what arrives within the batching window, up to
  the batch size (full batches once a queue sees batch_size messages per window); one
  transaction per distinct key per batch, with a marker per message; one receive and
  one delete per batch;
- the stream: Lambda polls a shard 4 times a second, so a stream batch holds the
  writer updates of a quarter second and replicate puts the newest image of each
  article in it.

bench/__main__.py also projects the busy rate that was measured, so the model can be
checked against a real run in RESULTS.md.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from bench.load import LoadRun, ViewResult, plan_views
from handlers.wiring import EVENT_TYPE_ATTRIBUTE, HAS_REFERRER_ATTRIBUTE, WIRING, Wiring

STREAM_POLLS_PER_SECOND = 4
ITEM_BYTES = 100  # every item here (a count, a marker, a reader copy) is far under 1 KB
SECONDS = 60.0  # a minute of views is enough for the batch mix to settle


def event_type(message: dict[str, Any]) -> str:
    if "articleId" in message:
        return "post_view"
    return "homepage_view" if message.get("currentPage") == "/" else "profile_view"


def queue_key(queue: str, message: dict[str, Any]) -> str | None:
    """The key a queue's consumer writes for this message, None when it does not get it."""
    target = message.get("articleId") or message.get("currentPage", "")
    if queue == "referrer":
        return f"{message['referrer']} {target}" if "referrer" in message else None
    return target if event_type(message) == queue else None


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


POLL_CYCLE_SECONDS = 0.1
"""Assumed time between two receives of one poller with no batching window: the receive's
round trip plus the invocation (the calm run's counters take tens of ms). With a window of
0 a poll returns what arrived during that cycle."""


def batch_size(arrivals_per_second: float, window_seconds: float, limit: int) -> int:
    """What a batch holds: the arrivals while a poller gathers (the window, or one poll cycle
    without one), at least one, at most the batch size."""
    gathering = max(window_seconds, POLL_CYCLE_SECONDS)
    return max(1, min(limit, math.floor(arrivals_per_second * gathering)))


def synthesise(
    rate: float, calm: dict[str, float], wiring: Wiring = WIRING, seconds: float = SECONDS
) -> tuple[LoadRun, list[dict[str, Any]]]:
    """A LoadRun and recorder lines for `rate` views/s; calm: ms per call or key by function."""
    messages = plan_views(round(rate * seconds))
    duration = len(messages) / rate
    views = [ViewResult(m, started=i / rate, sent=i / rate, replied=i / rate, ok=True) for i, m in enumerate(messages)]
    run = LoadRun(rate, seconds, views, started=0.0, sent_all=duration, drained=duration)
    run.frames_in = run.frames_out = run.connections = len(views)
    records: list[dict[str, Any]] = []

    def invoke(fn: str, t: float, keys: int = 1) -> None:
        records.append({"k": "invoke", "t": t, "fn": fn, "ms": calm.get(fn, 1.0) * keys, "keys": keys})

    def call(fn: str, t: float, service: str, op: str, **details: Any) -> None:
        records.append({"k": "call", "t": t, "fn": fn, "service": service, "op": op, "retries": 0, **details})

    for view in views:
        t, message = view.sent, view.message
        attributes = {EVENT_TYPE_ATTRIBUTE: event_type(message)}
        if "referrer" in message:
            attributes[HAS_REFERRER_ATTRIBUTE] = "true"
        for fn in ("connect", "views", "disconnect"):
            invoke(fn, t)
        call("views", t, "dynamodb", "GetItem", read=[ITEM_BYTES])
        call("views", t, "sns", "Publish", attributes=attributes, bytes=200)

    writer_updates: list[tuple[float, str]] = []
    for queue in wiring.queues:
        keyed = [(v.sent, k) for v in views if (k := queue_key(queue.name, v.message)) is not None]
        if not keyed:
            continue
        size = batch_size(len(keyed) / duration, queue.max_batching_window_seconds, queue.batch_size)
        for batch in chunks([k for _, k in keyed], size):
            t = keyed[0][0]  # times only need to fall inside the run's window
            distinct = list(dict.fromkeys(batch))
            invoke(queue.function, t, len(distinct))
            records[-1]["records"] = len(batch)
            call(f"sqs-{queue.name}", t, "sqs", "ReceiveMessage", messages=len(batch))
            call(f"sqs-{queue.name}", t, "sqs", "DeleteMessageBatch", entries=len(batch))
            for key in distinct:
                markers = batch.count(key)
                items = [["Update", ITEM_BYTES]] + [["Put", ITEM_BYTES]] * markers
                call(queue.function, t, "dynamodb", "TransactWriteItems", transact_write=items)
            if queue.name == "post_view":
                writer_updates += [(len(writer_updates) / rate, key) for key in distinct]
    # Spread the writer's updates evenly over the run, then cut them into stream batches.
    spread = [(i * duration / max(1, len(writer_updates)), k) for i, (_, k) in enumerate(writer_updates)]
    for _, group in itertools.groupby(spread, key=lambda u: math.floor(u[0] * STREAM_POLLS_PER_SECOND)):
        articles = list(dict.fromkeys(k for _, k in group))
        for stream in wiring.streams:
            invoke(stream.function, 0.0, len(articles))
            for _ in articles:
                call(stream.function, 0.0, "dynamodb", "PutItem", write=[ITEM_BYTES])
    return run, records
