"""The work at a rate, projected from a calm run: the model the measured rows are checked against.

The local stack (every function, moto and the pollers in one Python process) is driven at
10 and 100 views/s, but on a shared 2-core machine it may not keep up with 100 (about
30 ms of CPU per view, under one GIL), so its batches then hold a backlog, not the rate.
The projection says what Lambda's mappings would form at the rate: it synthesises the
records the recorder would have written and prices them with the same code as a measured
run (bench/cost.py):

- per view, what does not depend on the rate: a $connect and a views invocation (and a
  $disconnect where the wiring routes one: live counts on), one GetItem, one Publish with
  the view's attributes, one frame in and one out; durations from the calm run
  (bench/cost.py duration_model);
- per queue, batches as Lambda's event source mapping forms them: each queue gets its
  share of the rate, and a batch holds what arrives within the batching window, up to
  the batch size (full batches once a queue sees batch_size messages per window); one
  transaction per distinct key per batch, with a marker per message; one receive and
  one delete per batch;
- the streams: Lambda polls a shard 4 times a second, so a stream batch holds a table's
  updates of a quarter second, or of its mapping's batching window if longer (the
  Series consumers gather 10 s); each consumer of that table's stream writes once per
  distinct key in its batch (a batch is at most the mapping's batch size): replicate puts
  the newest image of each post and reads and rewrites the top posts' item once, a Series
  consumer updates each key's hourly snapshot. The live fan-out, with live counts on,
  is not modelled: the load runs have live counts off (LOAD_WIRING).

bench/__main__.py projects every driven rate above the calm one, so RESULTS.md shows
the model beside each real run.
"""

from __future__ import annotations

import itertools
import math

from bench.load import LoadRun, ViewResult, plan_views
from bench.records import CallDetails, CallRecord, InvokeRecord, Record
from bench.routing import attributes, published, queue_key
from handlers.schema import ViewEvent
from handlers.top_posts import TOP_SIZE
from handlers.wiring import COUNTED_EVENTS, DISCONNECT_ROUTE, WIRING, QueueSpec, Wiring, with_live_interval

STREAM_POLLS_PER_SECOND = 4
ITEM_BYTES = 100  # every item here (a count, a marker, a reader copy) is far under 1 KB
TOP_BYTES = TOP_SIZE * ITEM_BYTES
"""The top posts' one item (handlers/top_posts.py): about a reader copy per post it lists."""
SECONDS = 60.0  # a minute of views is enough for the batch mix to settle
LOAD_WIRING = with_live_interval(WIRING, 0)
"""The load runs' stacks have live counts off (bench/__main__.py LIVE_OFF)."""


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


def invoke(calm: dict[str, float], fn: str, t: float, keys: int = 1, records: int | None = None) -> InvokeRecord:
    """What the recorder writes for an invocation, its duration the calm run's per key."""
    line: InvokeRecord = {"kind": "invoke", "time": t, "fn": fn, "ms": calm.get(fn, 1.0) * keys, "keys": keys}
    if records is not None:
        line["records"] = records
    return line


def call(fn: str, t: float, service: str, op: str, details: CallDetails) -> CallRecord:
    """What the recorder writes for an AWS call that succeeded at once."""
    return {
        "kind": "call",
        "time": t,
        "fn": fn,
        "service": service,
        "op": op,
        "status": 200,
        "error": None,
        "retries": 0,
        **details,
    }


def front_door(
    views: list[ViewResult], events: list[ViewEvent], calm: dict[str, float], wiring: Wiring
) -> list[Record]:
    """Per view: $connect, views (and $disconnect if routed), the views function's read and its publish."""
    records: list[Record] = []
    functions = ["connect", "views"] + (["disconnect"] if wiring.route(DISCONNECT_ROUTE) else [])
    for view, event in zip(views, events, strict=True):
        t = view.sent
        records += [invoke(calm, fn, t) for fn in functions]
        records.append(call("views", t, "dynamodb", "GetItem", {"read": [ITEM_BYTES]}))
        records.append(call("views", t, "sns", "Publish", {"attributes": dict(attributes(event)), "bytes": 200}))
    return records


def queue_batches(
    queue: QueueSpec, keyed: list[tuple[float, str]], duration: float, calm: dict[str, float]
) -> tuple[list[Record], list[str]]:
    """A queue's batches as the event source mapping forms them, and the distinct keys of
    each batch in order (the count updates its consumer writes)."""
    records: list[Record] = []
    updated: list[str] = []
    size = batch_size(len(keyed) / duration, queue.max_batching_window_seconds, queue.batch_size)
    for batch in chunks([k for _, k in keyed], size):
        t = keyed[0][0]  # times only need to fall inside the run's window
        distinct = list(dict.fromkeys(batch))
        records.append(invoke(calm, queue.function, t, len(distinct), records=len(batch)))
        records.append(call(f"sqs-{queue.name}", t, "sqs", "ReceiveMessage", {"messages": len(batch)}))
        records.append(call(f"sqs-{queue.name}", t, "sqs", "DeleteMessageBatch", {"entries": len(batch)}))
        for key in distinct:
            items = [("Update", ITEM_BYTES)] + [("Put", ITEM_BYTES)] * batch.count(key)
            records.append(call(queue.function, t, "dynamodb", "TransactWriteItems", {"transact_write": items}))
        updated += distinct
    return records, updated


def counted_table(queue: QueueSpec, wiring: Wiring) -> str:
    """The table a queue's consumer counts in (its grant besides the ledger's)."""
    return next(g.table for g in wiring.function(queue.function).tables if g.table != COUNTED_EVENTS)


def stream_batches(
    updated: dict[str, list[str]], duration: float, calm: dict[str, float], wiring: Wiring
) -> list[Record]:
    """Each table's updates spread evenly over the run, cut into each of its stream
    consumers' batches; a consumer writes once per distinct key of a batch."""
    records: list[Record] = []
    for stream in wiring.streams:
        keys = updated.get(stream.table, [])
        gathering = max(1 / STREAM_POLLS_PER_SECOND, stream.maximum_batching_window_seconds)
        spread = [(i * duration / max(1, len(keys)), k) for i, k in enumerate(keys)]
        op = "UpdateItem" if wiring.function(stream.function).module == "handlers.series" else "PutItem"
        for _, window in itertools.groupby(spread, key=lambda u: math.floor(u[0] / gathering)):
            for batch in chunks([k for _, k in window], stream.batch_size):
                distinct = list(dict.fromkeys(batch))
                records.append(invoke(calm, stream.function, 0.0, len(distinct)))
                records += [call(stream.function, 0.0, "dynamodb", op, {"write": [ITEM_BYTES]}) for _ in distinct]
                if stream.function == "replicate":
                    records.append(call(stream.function, 0.0, "dynamodb", "GetItem", {"read": [TOP_BYTES]}))
                    records.append(call(stream.function, 0.0, "dynamodb", "PutItem", {"write": [TOP_BYTES]}))
    return records


def synthesise(
    rate: float, calm: dict[str, float], wiring: Wiring = LOAD_WIRING, seconds: float = SECONDS
) -> tuple[LoadRun, list[Record]]:
    """A LoadRun and recorder lines for `rate` views/s; calm: ms per call or key by function."""
    messages = plan_views(round(rate * seconds))
    duration = len(messages) / rate
    views = [ViewResult(m, started=i / rate, sent=i / rate, replied=i / rate, ok=True) for i, m in enumerate(messages)]
    run = LoadRun(rate, seconds, views, started=0.0, sent_all=duration, drained=duration)
    run.frames_in = run.frames_out = run.connections = len(views)
    events = [published(m) for m in messages]
    records = front_door(views, events, calm, wiring)
    updated: dict[str, list[str]] = {}
    for queue in wiring.queues:
        keyed = [(v.sent, k) for v, e in zip(views, events, strict=True) if (k := queue_key(queue, e)) is not None]
        if not keyed:
            continue
        batches, keys = queue_batches(queue, keyed, duration, calm)
        records += batches
        updated.setdefault(counted_table(queue, wiring), []).extend(keys)
    return run, records + stream_batches(updated, duration, calm, wiring)
