"""AWS work per view and dollars per million views, ours beside the original Go/CDK design.

Ours is counted from the local stack's recorded calls (bench/hooks): every handler
invocation, AWS API call and SDK retry in the run's window. DynamoDB units are
computed from the requests by DynamoDB's rules: moto's ReturnConsumedCapacity is
not AWS's (0.5 units for an UpdateItem, nothing for TransactWriteItems). An
eventually consistent read is 0.5 RRU per 4 KB, a standard write 1 WRU per 1 KB,
a transactional write 2 WRU per item per 1 KB, a Scan 0.5 RRU per 4 KB read; a
failed conditional write still consumes its units.

Modelled rather than measured, and said so in the table:
- connection minutes: the client keeps its socket for the page session
  (SESSION_MINUTES, billed in whole minutes); the load closes it after the reply;
- SQS idle polling: the local pollers' empty receives are replaced by what
  Lambda's event source mapping does (5 pollers per queue, 20 s long polls);
- the original design, from its behaviour on the same views and the same batches.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load import LoadRun
from handlers.wiring import WIRING, Wiring

PRICES_PATH = Path(__file__).resolve().parent / "prices.json"
SESSION_MINUTES = 2
"""Connection minutes billed per page session (one view per session)."""
ESM_POLLERS = 5
ESM_WAIT_SECONDS = 20
ORIGINAL_MEMORY_MB = 128  # CDK's default for a Lambda function
ORIGINAL_CONSUMERS = ("homepage-counter", "profile-counter", "post-counter")
MILLION = 1_000_000


def load_prices(path: Path = PRICES_PATH) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


@dataclass
class Line:
    """One billed quantity per view and its unit price in dollars."""

    name: str
    per_view: float
    unit_usd: float
    detail: str = ""

    @property
    def usd_per_million_views(self) -> float:
        return self.per_view * self.unit_usd * MILLION


@dataclass
class Bill:
    design: str
    views: int
    lines: list[Line] = field(default_factory=list)
    facts: dict[str, float] = field(default_factory=dict)
    """Per-view quantities the options below start from."""

    @property
    def usd_per_million_views(self) -> float:
        return sum(line.usd_per_million_views for line in self.lines)

    def line(self, name: str) -> Line:
        return next(line for line in self.lines if line.name == name)


# ---- DynamoDB units from request sizes ------------------------------------------------


def read_units(size: int, consistent: bool = False) -> float:
    return math.ceil(max(size, 1) / 4096) * (1.0 if consistent else 0.5)


def write_units(size: int) -> int:
    return math.ceil(max(size, 1) / 1024)


@dataclass
class DynamoUnits:
    rru: float = 0.0
    wru: Counter[str] = field(default_factory=Counter)
    """Write units by what they were spent on."""


def dynamodb_units(calls: Iterable[dict[str, Any]]) -> DynamoUnits:
    """Pure: read and write units of recorded DynamoDB calls, each SDK retry billed again."""
    units = DynamoUnits()
    for call in calls:
        if call.get("service") != "dynamodb":
            continue
        attempts = 1 + int(call.get("retries") or 0)
        for size in call.get("read", []):
            units.rru += attempts * read_units(size, bool(call.get("consistent")))
        if "scanned" in call:
            units.rru += attempts * read_units(call["scanned"])
        for size in call.get("write", []):
            units.wru[f"{call['op']} by {call['fn']}"] += attempts * write_units(size)
        for kind, size in call.get("transact_write", []):
            what = "exactly-once markers" if kind == "Put" else "count updates"
            units.wru[f"{what} (transactional) by {call['fn']}"] += attempts * 2 * write_units(size)
    return units


def deliveries(attributes: dict[str, str], wiring: Wiring = WIRING) -> int:
    """Pure: how many queues a publish with these attributes reaches (each is an SQS request)."""
    return sum(all(attributes.get(k) in allowed for k, allowed in q.filter_policy.items()) for q in wiring.queues)


def idle_polls_per_second(queues: int) -> float:
    """Lambda's event source mapping long-polls each queue with 5 pollers, busy or idle."""
    return queues * ESM_POLLERS / ESM_WAIT_SECONDS


# ---- ours, measured ---------------------------------------------------------------------


def in_window(records: list[dict[str, Any]], run: LoadRun) -> list[dict[str, Any]]:
    return [r for r in records if run.started <= r.get("t", 0) <= run.drained]


def invocations(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["k"] == "invoke"]


DurationModel = dict[str, float]
"""Milliseconds per invocation, or per key for a batch, by function."""


def duration_model(invokes: Iterable[dict[str, Any]]) -> DurationModel:
    """Pure: mean ms per unit of work (one key of a batch, or one call) from a calm run."""
    per_unit: dict[str, list[float]] = {}
    for i in invokes:
        per_unit.setdefault(i["fn"], []).append(i["ms"] / max(1, i.get("keys", 1)))
    return {fn: sum(ms) / len(ms) for fn, ms in per_unit.items()}


def duration_ms(invoke: dict[str, Any], model: DurationModel | None) -> float:
    """The measured duration, or the model's when given (a batch scales with its keys)."""
    if model is None or invoke["fn"] not in model:
        return float(invoke["ms"])
    return float(model[invoke["fn"]] * max(1, invoke.get("keys", 1)))


def gb_seconds(invokes: Iterable[dict[str, Any]], memory_mb: dict[str, int], model: DurationModel | None) -> float:
    return sum(math.ceil(duration_ms(i, model)) / 1000 * memory_mb[i["fn"]] / 1024 for i in invokes)


def our_bill(
    run: LoadRun,
    records: list[dict[str, Any]],
    prices: dict[str, Any],
    session_minutes: int = SESSION_MINUTES,
    durations: DurationModel | None = None,
    wiring: Wiring = WIRING,
) -> Bill:
    """durations: price GB-seconds from a calm run's durations (see duration_model) instead
    of this run's, which a saturated 2-core machine stretches far beyond Lambda's."""
    window = in_window(records, run)
    views = max(1, len(run.ok))
    calls = [r for r in window if r["k"] == "call"]
    invokes = invocations(window)
    memory = {f.name: f.memory_mb for f in wiring.functions}
    api, lam, sns, sqs, ddb = (prices[k] for k in ("api_gateway_websocket", "lambda", "sns", "sqs", "dynamodb"))
    per = 1 / views
    by_function = Counter(i["fn"] for i in invokes)

    publishes = [c for c in calls if c["service"] == "sns" and c["op"] == "Publish"]
    publish_requests = sum(
        (1 + c["retries"]) * math.ceil(max(c.get("bytes", 1), 1) / sns["publish_increment_bytes"]) for c in publishes
    )
    sent_to_queues = sum(deliveries(c.get("attributes") or {}, wiring) for c in publishes)
    receives = [c for c in calls if c["service"] == "sqs" and c["op"] == "ReceiveMessage"]
    busy_receives = sum(1 + c["retries"] for c in receives if c.get("messages"))
    deletes = sum(1 + c["retries"] for c in calls if c["service"] == "sqs" and c["op"].startswith("DeleteMessage"))
    # replicate's on-failure queue is polled by its repair consumer too, busy or idle.
    polled = len(wiring.queues) + sum(1 for s in wiring.streams if s.repair is not None)
    idle = idle_polls_per_second(polled) * (run.drained - run.started)
    units = dynamodb_units(calls)
    wru = sum(units.wru.values())
    facts = {
        "sessions": run.connections * per,
        "session_minutes": session_minutes,
        "disconnects": by_function["disconnect"] * per,
        "marker_wru": sum(n for what, n in units.wru.items() if what.startswith("exactly-once markers")) * per,
        "update_wru": sum(n for what, n in units.wru.items() if what.startswith("count updates")) * per,
        "publishes": publish_requests * per,
        "sqs_requests": (sent_to_queues + busy_receives + deletes + idle) * per,
        "deliveries": sent_to_queues * per,
    }
    return Bill(
        "ours (measured)",
        views,
        facts=facts,
        lines=[
            Line(
                "API Gateway messages",
                (run.frames_in + run.frames_out) * per,
                api["usd_per_million_messages"] / MILLION,
                f"{run.frames_in} in + {run.frames_out} out",
            ),
            Line(
                "API Gateway connection minutes",
                run.connections * session_minutes * per,
                api["usd_per_million_connection_minutes"] / MILLION,
                f"{run.connections} sessions x {session_minutes} min (modelled)",
            ),
            Line(
                "Lambda requests",
                len(invokes) * per,
                lam["usd_per_million_requests"] / MILLION,
                ", ".join(f"{fn} {n}" for fn, n in sorted(by_function.items())),
            ),
            Line(
                "Lambda GB-seconds",
                gb_seconds(invokes, memory, durations) * per,
                lam["usd_per_gb_second_arm64"],
                "arm64 at wiring memory, durations measured in this run"
                if durations is None
                else f"arm64 at wiring memory, durations of the calm run per call or key (this run's own: "
                f"{gb_seconds(invokes, memory, None) * per:.4g} GB-s per view)",
            ),
            Line("SNS publishes", publish_requests * per, sns["usd_per_million_publishes"] / MILLION),
            Line(
                "SQS requests",
                (sent_to_queues + busy_receives + deletes + idle) * per,
                sqs["usd_per_million_requests"] / MILLION,
                f"{sent_to_queues} from SNS, {busy_receives} receives, {deletes} deletes, "
                f"{idle:.0f} idle polls (modelled)",
            ),
            Line("DynamoDB read units", units.rru * per, ddb["usd_per_million_read_request_units"] / MILLION),
            Line(
                "DynamoDB write units",
                wru * per,
                ddb["usd_per_million_write_request_units"] / MILLION,
                "; ".join(f"{what} {n / views:.2f}" for what, n in sorted(units.wru.items())),
            ),
        ],
    )


# ---- the original design, modelled on the same views and batches -----------------------------


def original_bill(
    run: LoadRun,
    records: list[dict[str, Any]],
    prices: dict[str, Any],
    session_minutes: int = SESSION_MINUTES,
    durations: DurationModel | None = None,
) -> Bill:
    """The Go/CDK design on this run's views: $connect Lambda per connection; per view a
    Lambda with one GetItem, one SNS publish and a PostToConnection, plus a referrer row
    per external hit; consumers (default batch of 10, here the same batches ours got)
    writing once per key per batch; one stream copy per writer update. No $disconnect
    Lambda, no referrer queue, no exactly-once markers. Durations are ours (measured),
    memory CDK's default 128 MB on x86_64."""
    window = in_window(records, run)
    views = max(1, len(run.ok))
    per = 1 / views
    invokes = invocations(window)
    api, lam, sns, sqs, ddb = (prices[k] for k in ("api_gateway_websocket", "lambda", "sns", "sqs", "dynamodb"))
    referred = sum(1 for v in run.ok if "referrer" in v.message)
    consumer_batches = [i for i in invokes if i["fn"] in ORIGINAL_CONSUMERS]
    key_writes = sum(i.get("keys", 0) for i in consumer_batches)
    post_writes = sum(i.get("keys", 0) for i in consumer_batches if i["fn"] == "post-counter")
    stream_batches = [i for i in invokes if i["fn"] == "replicate"]
    invoked = [i for i in invokes if i["fn"] in ("connect", "views")] + consumer_batches + stream_batches
    gbs = sum(math.ceil(duration_ms(i, durations)) / 1000 * ORIGINAL_MEMORY_MB / 1024 for i in invoked)
    queues = len(ORIGINAL_CONSUMERS)
    idle = idle_polls_per_second(queues) * (run.drained - run.started)
    return Bill(
        "original Go/CDK (modelled)",
        views,
        [
            Line(
                "API Gateway messages",
                (run.frames_in + run.frames_out) * per,
                api["usd_per_million_messages"] / MILLION,
                "views in + PostToConnection out",
            ),
            Line(
                "API Gateway connection minutes",
                run.connections * session_minutes * per,
                api["usd_per_million_connection_minutes"] / MILLION,
                "same sessions",
            ),
            Line(
                "Lambda requests",
                len(invoked) * per,
                lam["usd_per_million_requests"] / MILLION,
                f"connect + views per view, {len(consumer_batches)} consumer and {len(stream_batches)} stream batches",
            ),
            Line("Lambda GB-seconds", gbs * per, lam["usd_per_gb_second_x86_64"], "x86_64, 128 MB"),
            Line("SNS publishes", views * per, sns["usd_per_million_publishes"] / MILLION),
            Line(
                "SQS requests",
                (views + 2 * len(consumer_batches) + idle) * per,
                sqs["usd_per_million_requests"] / MILLION,
                "one delivery per view, a receive and a delete per batch, idle polls of 3 queues",
            ),
            Line("DynamoDB read units", 0.5, ddb["usd_per_million_read_request_units"] / MILLION, "one GetItem"),
            Line(
                "DynamoDB write units",
                (referred + key_writes + post_writes) * per,
                ddb["usd_per_million_write_request_units"] / MILLION,
                f"referrer rows {referred * per:.2f}; count updates {key_writes * per:.2f}; "
                f"stream copies {post_writes * per:.2f}",
            ),
        ],
    )


# ---- what would close the gap ------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    change: str
    saves_usd_per_million: float


def distinct_keys_per_view(run: LoadRun, batch_size: int) -> float:
    """Pure: count updates per view if each queue's messages came in batches of batch_size,
    in send order (what a long batching window gives under steady load)."""
    queues: dict[str, list[str]] = {}
    for view in sorted(run.ok, key=lambda v: v.sent):
        message = view.message
        key = message.get("articleId") or message.get("currentPage", "")
        queue = "post" if "articleId" in message else ("home" if key == "/" else "profile")
        queues.setdefault(queue, []).append(key)
        if "referrer" in message:
            queues.setdefault("referrer", []).append(f"{message['referrer']} {key}")
    updates = sum(
        len(set(keys[i : i + batch_size])) for keys in queues.values() for i in range(0, len(keys), batch_size)
    )
    return updates / max(1, len(run.ok))


def options(ours: Bill, prices: dict[str, Any], run: LoadRun) -> list[Option]:
    """Estimates from this run's measured quantities, each on its own against ours."""
    lam, sns, sqs, ddb, api = (prices[k] for k in ("lambda", "sns", "sqs", "dynamodb", "api_gateway_websocket"))
    wru_usd = ddb["usd_per_million_write_request_units"]
    facts = ours.facts
    found: list[Option] = []
    if facts["disconnects"]:
        found.append(
            Option(
                "drop the $disconnect route's Lambda (it keeps nothing to clean up; the route needs no integration)",
                facts["disconnects"] * lam["usd_per_million_requests"],
            )
        )
    if facts["session_minutes"] > 1:
        found.append(
            Option(
                "client closes its socket after the reply when nothing waits (1 billed minute per session)",
                facts["sessions"] * (facts["session_minutes"] - 1) * api["usd_per_million_connection_minutes"],
            )
        )
    # Larger batches shrink only the count updates; every view keeps its 2-WRU marker.
    window_updates = 2 * distinct_keys_per_view(run, 100)
    found.append(
        Option(
            f"batching window 5 s, batch size 100 (count-update WRU/view {facts['update_wru']:.2f} -> "
            f"{window_updates:.2f}; markers stay at {facts['marker_wru']:.2f})",
            max(0.0, facts["update_wru"] - window_updates) * wru_usd,
        )
    )
    # FIFO: per-key message groups arrive in order, so a consumer keeps the highest
    # sequence number it applied on the count item and applies a batch with one
    # conditional UpdateItem (1 WRU, not transactional): no markers at all.
    fifo_wru = facts["update_wru"] / 2
    fifo_extra = (
        (sns["fifo_usd_per_million_publishes"] - sns["usd_per_million_publishes"]) * facts["publishes"]
        + (sqs["fifo_usd_per_million_requests"] - sqs["usd_per_million_requests"]) * facts["sqs_requests"]
        + sns["fifo_usd_per_million_deliveries_to_sqs"] * facts["deliveries"]
    )
    found.append(
        Option(
            "SNS + SQS FIFO with a message group per key and a sequence-number watermark in one conditional "
            f"UpdateItem (WRU/view {facts['marker_wru'] + facts['update_wru']:.2f} -> {fifo_wru:.2f}, at FIFO prices)",
            (facts["marker_wru"] + facts["update_wru"] - fifo_wru) * wru_usd - fifo_extra,
        )
    )
    return found
