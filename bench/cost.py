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
- CloudWatch Logs: Lambda's START, END and REPORT lines per invocation (sizes from
  AWS's documented text format), unless the advanced logging controls drop them; what
  our code logs is measured (the recorder counts handlers.log's bytes);
- the original design, from its behaviour on the same views and the same batches.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load import LoadRun
from bench.records import CallRecord, InvokeRecord, Record
from bench.routing import published, queue_key, reaches
from components import lambda_logging
from handlers.wiring import WIRING, Wiring

PRICES_PATH = Path(__file__).resolve().parent / "prices.json"
SESSION_MINUTES = 2
"""Connection minutes billed per page session (one view per session)."""
ESM_POLLERS = 5
ESM_WAIT_SECONDS = 20
ORIGINAL_MEMORY_MB = 128  # CDK's default for a Lambda function
ORIGINAL_CONSUMERS = ("homepage-counter", "profile-counter", "post-counter")
REFERRER_QUEUE = "referrer"
REFERRER_FUNCTION = "referrer-counter"
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


def dynamodb_units(calls: Iterable[CallRecord]) -> DynamoUnits:
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


def deliveries(attributes: Mapping[str, str | None], wiring: Wiring = WIRING) -> int:
    """Pure: how many queues a publish with these attributes reaches (each is an SQS request)."""
    return sum(reaches(queue, attributes) for queue in wiring.queues)


def idle_polls_per_second(queues: int) -> float:
    """Lambda's event source mapping long-polls each queue with 5 pollers, busy or idle."""
    return queues * ESM_POLLERS / ESM_WAIT_SECONDS


def billed_views(run: LoadRun) -> int:
    """Pure: the views the stack received (their frames went in), answered in time or not.

    A saturated run's late replies still did all their work (published, counted), so the
    work is divided by them, not by the views answered in time only."""
    return max(1, run.frames_in, len(run.ok))


# ---- CloudWatch Logs ------------------------------------------------------------------------

LOG_EVENT_OVERHEAD_BYTES = 26
"""CloudWatch Logs sizes each log event as its UTF-8 message plus 26 bytes (PutLogEvents'
batch-size rule); ingestion is modelled on the same size."""
_REQUEST_ID = "c793869b-ee49-115b-a5b6-4fd21e8dedac"
SYSTEM_LOG_EVENTS = (
    f"START RequestId: {_REQUEST_ID} Version: $LATEST\n",
    f"END RequestId: {_REQUEST_ID}\n",
    f"REPORT RequestId: {_REQUEST_ID}\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
    "Memory Size: 256 MB\tMax Memory Used: 80 MB\t\n",
)
"""What Lambda writes for every invocation in its default text format, as AWS's Lambda
guides show them (a cold start's REPORT adds an Init Duration, not counted here)."""
SYSTEM_LOG_BYTES = sum(len(line.encode()) + LOG_EVENT_OVERHEAD_BYTES for line in SYSTEM_LOG_EVENTS)
"""About 0.35 KB per invocation."""
KB = 1024
GB = 1024**3
# START, END and REPORT are INFO platform events: kept only at system level INFO or finer.
OURS_KEEPS_SYSTEM_LOGS = lambda_logging.SYSTEM_LOG_LEVEL in ("TRACE", "DEBUG", "INFO")


def application_log_bytes(invokes: Iterable[InvokeRecord]) -> int:
    """Pure: what our code logged in these invocations, as CloudWatch Logs sizes it."""
    return sum(i.get("log_bytes", 0) + LOG_EVENT_OVERHEAD_BYTES * i.get("log_lines", 0) for i in invokes)


def log_bytes(invokes: list[InvokeRecord], system_logs: bool) -> int:
    """Pure: ingested bytes of these invocations, with or without START/END/REPORT."""
    return application_log_bytes(invokes) + (SYSTEM_LOG_BYTES * len(invokes) if system_logs else 0)


# ---- ours, measured ---------------------------------------------------------------------


def in_window(records: list[Record], run: LoadRun) -> list[CallRecord | InvokeRecord]:
    """The calls and invocations from the run's first view until its last was counted."""
    return [r for r in records if r["kind"] != "hook_error" and run.started <= r["time"] <= run.drained]


def invocations(records: Iterable[Record]) -> list[InvokeRecord]:
    return [r for r in records if r["kind"] == "invoke"]


def aws_calls(records: Iterable[Record]) -> list[CallRecord]:
    return [r for r in records if r["kind"] == "call"]


DurationModel = dict[str, float]
"""Milliseconds per invocation, or per key for a batch, by function."""


def duration_model(invokes: Iterable[InvokeRecord]) -> DurationModel:
    """Pure: mean ms per unit of work (one key of a batch, or one call) from a calm run."""
    per_unit: dict[str, list[float]] = {}
    for i in invokes:
        per_unit.setdefault(i["fn"], []).append(i["ms"] / max(1, i.get("keys", 1)))
    return {fn: sum(ms) / len(ms) for fn, ms in per_unit.items()}


def duration_ms(invoke: InvokeRecord, model: DurationModel | None) -> float:
    """The measured duration, or the model's when given (a batch scales with its keys)."""
    if model is None or invoke["fn"] not in model:
        return float(invoke["ms"])
    return float(model[invoke["fn"]] * max(1, invoke.get("keys", 1)))


def gb_seconds(invokes: Iterable[InvokeRecord], memory_mb: dict[str, int], model: DurationModel | None) -> float:
    return sum(math.ceil(duration_ms(i, model)) / 1000 * memory_mb[i["fn"]] / 1024 for i in invokes)


@dataclass(frozen=True)
class Traffic:
    """What a run's recorded calls and invocations add up to, before any price."""

    invokes: list[InvokeRecord]
    by_function: Counter[str]
    """Invocations per function."""
    publish_requests: int
    """SNS requests: a publish is billed per 64 KB, and again per SDK retry."""
    sent_to_queues: int
    busy_receives: int
    deletes: int
    idle_polls: float
    """Modelled: what Lambda's event source mapping would poll over the run, busy or idle."""
    units: DynamoUnits
    referrer_sqs_requests: float = 0.0
    """The referrer queue's share: deliveries, busy receives, deletes and its idle polls."""

    @property
    def sqs_requests(self) -> float:
        return self.sent_to_queues + self.busy_receives + self.deletes + self.idle_polls


def traffic(window: list[CallRecord | InvokeRecord], run: LoadRun, sns_increment_bytes: int, wiring: Wiring) -> Traffic:
    """Pure: the billable quantities of the records in the run's window."""
    calls = aws_calls(window)
    invokes = invocations(window)
    publishes = [c for c in calls if c["service"] == "sns" and c["op"] == "Publish"]
    receives = [c for c in calls if c["service"] == "sqs" and c["op"] == "ReceiveMessage"]
    # replicate's on-failure queue is polled by its repair consumer too, busy or idle.
    polled = len(wiring.queues) + sum(1 for s in wiring.streams if s.repair is not None)
    referrer = next((q for q in wiring.queues if q.name == REFERRER_QUEUE), None)
    referrer_polls = [c for c in calls if c["fn"] == f"sqs-{REFERRER_QUEUE}"]
    return Traffic(
        invokes=invokes,
        by_function=Counter(i["fn"] for i in invokes),
        publish_requests=sum(
            (1 + c["retries"]) * math.ceil(max(c.get("bytes", 1), 1) / sns_increment_bytes) for c in publishes
        ),
        sent_to_queues=sum(deliveries(c.get("attributes") or {}, wiring) for c in publishes),
        busy_receives=sum(1 + c["retries"] for c in receives if c.get("messages")),
        deletes=sum(1 + c["retries"] for c in calls if c["service"] == "sqs" and c["op"].startswith("DeleteMessage")),
        idle_polls=idle_polls_per_second(polled) * (run.drained - run.started),
        units=dynamodb_units(calls),
        referrer_sqs_requests=0.0
        if referrer is None
        else sum(reaches(referrer, c.get("attributes") or {}) for c in publishes)
        + sum(1 + c["retries"] for c in referrer_polls if c["op"] != "ReceiveMessage" or c.get("messages"))
        + idle_polls_per_second(1) * (run.drained - run.started),
    )


def our_facts(
    work: Traffic, run: LoadRun, session_minutes: int, per: float, memory_mb: Mapping[str, int] | None = None
) -> dict[str, float]:
    """Per-view quantities the options start from (see options)."""
    wru = work.units.wru
    referrer_runs = [i for i in work.invokes if i["fn"] == REFERRER_FUNCTION]
    memory = (memory_mb or {}).get(REFERRER_FUNCTION, 0)
    return {
        "referrer_marker_wru": wru[f"exactly-once markers (transactional) by {REFERRER_FUNCTION}"] * per,
        "referrer_invokes": len(referrer_runs) * per,
        "referrer_gb_seconds": gb_seconds(referrer_runs, {REFERRER_FUNCTION: memory}, None) * per,
        "referrer_sqs_requests": work.referrer_sqs_requests * per,
        "sessions": run.connections * per,
        "session_minutes": session_minutes,
        "disconnects": work.by_function["disconnect"] * per,
        "marker_wru": sum(n for what, n in wru.items() if what.startswith("exactly-once markers")) * per,
        "update_wru": sum(n for what, n in wru.items() if what.startswith("count updates")) * per,
        "publishes": work.publish_requests * per,
        "sqs_requests": work.sqs_requests * per,
        "deliveries": work.sent_to_queues * per,
    }


def our_lines(
    work: Traffic,
    run: LoadRun,
    prices: dict[str, Any],
    session_minutes: int,
    durations: DurationModel | None,
    wiring: Wiring,
) -> list[Line]:
    views = billed_views(run)
    per = 1 / views
    memory = {f.name: f.memory_mb for f in wiring.functions}
    api, lam, sns, sqs, ddb = (prices[k] for k in ("api_gateway_websocket", "lambda", "sns", "sqs", "dynamodb"))
    logs_usd_per_kb = prices["cloudwatch_logs"]["usd_per_gb_ingested"] * KB / GB
    logged = sum(i.get("log_lines", 0) for i in work.invokes)
    system_kb = SYSTEM_LOG_BYTES * len(work.invokes) / KB
    return [
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
            len(work.invokes) * per,
            lam["usd_per_million_requests"] / MILLION,
            ", ".join(f"{fn} {n}" for fn, n in sorted(work.by_function.items())),
        ),
        Line(
            "Lambda GB-seconds",
            gb_seconds(work.invokes, memory, durations) * per,
            lam["usd_per_gb_second_arm64"],
            "arm64 at wiring memory, durations measured in this run"
            if durations is None
            else f"arm64 at wiring memory, durations of the calm run per call or key (this run's own: "
            f"{gb_seconds(work.invokes, memory, None) * per:.4g} GB-s per view)",
        ),
        Line("SNS publishes", work.publish_requests * per, sns["usd_per_million_publishes"] / MILLION),
        Line(
            "SQS requests",
            work.sqs_requests * per,
            sqs["usd_per_million_requests"] / MILLION,
            f"{work.sent_to_queues} from SNS, {work.busy_receives} receives, {work.deletes} deletes, "
            f"{work.idle_polls:.0f} idle polls (modelled)",
        ),
        Line("DynamoDB read units", work.units.rru * per, ddb["usd_per_million_read_request_units"] / MILLION),
        Line(
            "DynamoDB write units",
            sum(work.units.wru.values()) * per,
            ddb["usd_per_million_write_request_units"] / MILLION,
            "; ".join(f"{what} {n / views:.2f}" for what, n in sorted(work.units.wru.items())),
        ),
        Line(
            "CloudWatch Logs KB ingested",
            log_bytes(work.invokes, OURS_KEEPS_SYSTEM_LOGS) / KB * per,
            logs_usd_per_kb,
            f"{logged} lines our code logged; START/END/REPORT "
            + (
                "kept"
                if OURS_KEEPS_SYSTEM_LOGS
                else f"dropped by system log level {lambda_logging.SYSTEM_LOG_LEVEL} "
                f"(with them: +{system_kb * per:.3g} KB/view, +${system_kb * per * logs_usd_per_kb * MILLION:.3g}/M)"
            ),
        ),
    ]


def our_bill(
    run: LoadRun,
    records: list[Record],
    prices: dict[str, Any],
    session_minutes: int = SESSION_MINUTES,
    durations: DurationModel | None = None,
    wiring: Wiring = WIRING,
) -> Bill:
    """durations: price GB-seconds from a calm run's durations (see duration_model) instead
    of this run's, which a saturated 2-core machine stretches far beyond Lambda's."""
    work = traffic(in_window(records, run), run, prices["sns"]["publish_increment_bytes"], wiring)
    views = billed_views(run)
    return Bill(
        "ours (measured)",
        views,
        facts=our_facts(work, run, session_minutes, 1 / views, {f.name: f.memory_mb for f in wiring.functions}),
        lines=our_lines(work, run, prices, session_minutes, durations, wiring),
    )


# ---- the original design, modelled on the same views and batches -----------------------------


@dataclass(frozen=True)
class OriginalWork:
    """The original design's work on a run: the same views, queue batches and stream batches."""

    referred: int
    """Views with an external referrer: one referrer row each."""
    consumer_batches: int
    stream_batches: int
    invoked: int
    key_writes: int
    post_writes: int
    """Writer updates, each copied once by the stream consumer."""
    gb_seconds: float
    idle_polls: float


def original_work(run: LoadRun, records: list[Record], durations: DurationModel | None) -> OriginalWork:
    invokes = invocations(in_window(records, run))
    consumer_batches = [i for i in invokes if i["fn"] in ORIGINAL_CONSUMERS]
    stream_batches = [i for i in invokes if i["fn"] == "replicate"]
    invoked = [i for i in invokes if i["fn"] in ("connect", "views")] + consumer_batches + stream_batches
    return OriginalWork(
        referred=sum(1 for v in run.ok if "referrer" in v.message),
        consumer_batches=len(consumer_batches),
        stream_batches=len(stream_batches),
        invoked=len(invoked),
        key_writes=sum(i.get("keys", 0) for i in consumer_batches),
        post_writes=sum(i.get("keys", 0) for i in consumer_batches if i["fn"] == "post-counter"),
        gb_seconds=sum(math.ceil(duration_ms(i, durations)) / 1000 * ORIGINAL_MEMORY_MB / 1024 for i in invoked),
        idle_polls=idle_polls_per_second(len(ORIGINAL_CONSUMERS)) * (run.drained - run.started),
    )


def original_bill(
    run: LoadRun,
    records: list[Record],
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
    work = original_work(run, records, durations)
    views = billed_views(run)
    per = 1 / views
    api, lam, sns, sqs, ddb = (prices[k] for k in ("api_gateway_websocket", "lambda", "sns", "sqs", "dynamodb"))
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
                work.invoked * per,
                lam["usd_per_million_requests"] / MILLION,
                f"connect + views per view, {work.consumer_batches} consumer and {work.stream_batches} stream batches",
            ),
            Line("Lambda GB-seconds", work.gb_seconds * per, lam["usd_per_gb_second_x86_64"], "x86_64, 128 MB"),
            Line("SNS publishes", views * per, sns["usd_per_million_publishes"] / MILLION),
            Line(
                "SQS requests",
                (views + 2 * work.consumer_batches + work.idle_polls) * per,
                sqs["usd_per_million_requests"] / MILLION,
                "one delivery per view, a receive and a delete per batch, idle polls of 3 queues",
            ),
            Line("DynamoDB read units", 0.5, ddb["usd_per_million_read_request_units"] / MILLION, "one GetItem"),
            Line(
                "DynamoDB write units",
                (work.referred + work.key_writes + work.post_writes) * per,
                ddb["usd_per_million_write_request_units"] / MILLION,
                f"referrer rows {work.referred * per:.2f}; count updates {work.key_writes * per:.2f}; "
                f"stream copies {work.post_writes * per:.2f}",
            ),
            Line(
                "CloudWatch Logs KB ingested",
                work.invoked * SYSTEM_LOG_BYTES / KB * per,
                prices["cloudwatch_logs"]["usd_per_gb_ingested"] * KB / GB,
                "START, END and REPORT per invocation (default text format); its own log lines not modelled",
            ),
        ],
    )


# ---- what would close the gap ------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    change: str
    saves_usd_per_million: float


def distinct_keys_per_view(run: LoadRun, batch_size: int, wiring: Wiring = WIRING) -> float:
    """Pure: count updates per view if each queue's messages came in batches of batch_size,
    in send order (what a long batching window gives under steady load)."""
    events = [published(view.message) for view in sorted(run.ok, key=lambda v: v.sent)]
    updates = 0
    for queue in wiring.queues:
        keys = [key for event in events if (key := queue_key(queue, event)) is not None]
        updates += sum(len(set(keys[i : i + batch_size])) for i in range(0, len(keys), batch_size))
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
    # The view counters could add the referrer's increment to the transaction their own
    # marker already guards: the referrer's update stays (one item per referrer key per
    # batch, 2 WRU), its marker, queue and consumer go.
    if facts["referrer_invokes"]:
        found.append(
            Option(
                "referrer increment in the view counters' transaction, no referrer marker, queue or consumer "
                f"(markers WRU/view {facts['referrer_marker_wru']:.2f}, SQS requests/view "
                f"{facts['referrer_sqs_requests']:.2f}, Lambda requests/view {facts['referrer_invokes']:.2f} saved)",
                facts["referrer_marker_wru"] * wru_usd
                + facts["referrer_sqs_requests"] * sqs["usd_per_million_requests"]
                + facts["referrer_invokes"] * lam["usd_per_million_requests"]
                + facts["referrer_gb_seconds"] * lam["usd_per_gb_second_arm64"] * MILLION,
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
