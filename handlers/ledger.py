"""Exactly-once counting: each key's increment and its events' markers in one transaction.

For every key a batch touches, one TransactWriteItems holds the ADD to the count
and a conditional Put of a marker per event (`<purpose>#<eventId>`, expired by TTL
MARKER_TTL after the view was received). A redelivered message, a redriven one, or
an SDK retry of a committed transaction finds its marker and is skipped; a failure
leaves nothing behind, so the message is simply retried.

One transaction per key (not per batch) means a throttled or failing write reports
exactly the messages that fed it, and concurrent consumers conflict only on the
same key. Cost (on-demand, items under 1 KB): 2 write units per marker and 2 per
key update, so 4 WRU per view at batch size 1 and 2.2-4 WRU per view at 10.

Every transaction is a function of the set of events it counts, never of the order
SQS delivered them in: events are sorted by (receivedAt, eventId), the title is the
earliest event's, and the ClientRequestToken is a hash of the request itself. So a
redelivery in another order is the identical request, and a token never comes back
with other parameters (DynamoDB answers IdempotentParameterMismatch for 10 minutes).

Why a marker outlives every redelivery (R = receivedAt, set by API Gateway, not by
the client; L = MARKER_TTL = 60 days; M = TTL_MARGIN = 1 day):
- A marker is written with expiresAt = R + L. DynamoDB's TTL deletes an item only
  after expiresAt has passed (usually within days after, never before), and an
  expired item not yet deleted still fails `attribute_not_exists`. So a counted
  event's marker exists at every moment before R + L.
- No queue bounds how late a delivery can come: a message lives 4 days in its queue
  and 14 days in the DLQ (from its first enqueue), but a DLQ redrive makes a new
  message with a fresh retention period, and redrives can repeat. So the consumer
  refuses every event with now - R >= L - M (MAX_EVENT_AGE = 59 days): it is
  reported as a batch item failure, logged as `event_too_old`, and ends in the DLQ.
- An accepted event's transaction runs before now + the function timeout (30 s),
  i.e. before R + L - M + 30 s. M covers that and the skew between API Gateway's,
  Lambda's and DynamoDB's clocks (all NTP-synchronised, far below an hour) with
  room to spare. Hence every accepted delivery of a counted event meets its marker:
  counted once, along any path. What is refused is only what waited 59 days, four
  full redrive cycles (4 x 14 days = 56 days).
- Storage: a marker is about 200 bytes (key, expiresAt and DynamoDB's 100-byte item
  overhead); at 60 days a blog with 1 million views a month holds about 2 million
  views markers (plus one per referred view), 0.4 GB, $0.10 a month at $0.25 per
  GB-month. TTL deletes are free.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from handlers.log import log
from handlers.sqs import Delivered
from handlers.store import Key

DAY_SECONDS = 24 * 3600
MARKER_TTL_SECONDS = 60 * DAY_SECONDS  # L in the module docstring
TTL_MARGIN_SECONDS = DAY_SECONDS  # M: clock skew and the time from the age check to the commit
MAX_EVENT_AGE_SECONDS = MARKER_TTL_SECONDS - TTL_MARGIN_SECONDS  # older events are refused
MAX_MARKERS_PER_TRANSACTION = 99  # a transaction holds at most 100 items: the update + 99 markers
CONFLICT_RETRIES = 3  # a conflicting transaction on the same key holds it for milliseconds
CONFLICT_BACKOFF_SECONDS = 0.05  # the wait before conflict retry n is n times this
TOKEN_LENGTH = 36  # ClientRequestToken's maximum length


class Increment(NamedTuple):
    """What one event adds to its key (a key_of answer)."""

    key: Key
    adds: dict[str, int]
    """Counts to add."""
    sets: dict[str, str]
    """Attributes written only where the item has none: the first value stored stays."""
    overwrites: Mapping[str, str] = MappingProxyType({})
    """Attributes written whatever the item holds (a title the blog signed); they win over `sets`."""


@dataclass
class KeyWrite:
    """One key's increment for a batch and the deliveries that fed it."""

    key: Key
    adds: dict[str, int] = field(default_factory=dict)
    sets: dict[str, str] = field(default_factory=dict)
    """Attributes written only where the item has none: the first value stored stays."""
    overwrites: dict[str, str] = field(default_factory=dict)
    """Attributes written whatever the item holds: the latest event's value in the batch."""
    deliveries: list[Delivered] = field(default_factory=list)

    @property
    def message_ids(self) -> list[str]:
        return [d.message_id for d in self.deliveries]


@dataclass(frozen=True)
class Tables:
    counts: str
    markers: str


KeyOf = Callable[[Delivered], Increment | None]
"""The increment one delivery makes, or None for a delivery with nothing to count."""


def canonical_order(delivery: Delivered) -> tuple[int, str, str]:
    """Earliest received first, ties by eventId, then by the whole event (a resent view
    may share its eventId with another delivery), so no two different events tie."""
    event = delivery.event
    return event.receivedAt, event.eventId, event.model_dump_json()


def aggregate(deliveries: Iterable[Delivered], key_of: KeyOf) -> list[KeyWrite]:
    """Pure: group deliveries into one write per key, the same for any delivery order.

    A second delivery of the same eventId in one batch (SNS delivered it twice) is
    already counted here, and a delivery key_of gives None has nothing to count: both
    are done, in no write.
    """
    writes: dict[str, KeyWrite] = {}
    seen: set[str] = set()
    for delivery in sorted(deliveries, key=canonical_order):
        if delivery.event.eventId in seen:
            continue
        seen.add(delivery.event.eventId)
        increment = key_of(delivery)
        if increment is None:
            continue
        identity = repr(sorted((k, v["S"]) for k, v in increment.key.items()))
        write = writes.setdefault(identity, KeyWrite(key=increment.key))
        for name, amount in increment.adds.items():
            write.adds[name] = write.adds.get(name, 0) + amount
        for name, value in increment.sets.items():
            write.sets.setdefault(name, value)  # the earliest event's value, whatever the delivery order
        write.overwrites.update(increment.overwrites)  # the latest event's value, whatever the order
        write.deliveries.append(delivery)
    for write in writes.values():
        for name in write.overwrites:  # one SET per attribute: DynamoDB refuses overlapping paths
            write.sets.pop(name, None)
    return list(writes.values())


def update_item(table: str, write: KeyWrite) -> dict[str, Any]:
    names: dict[str, str] = {}
    values: dict[str, dict[str, str]] = {}
    adds, sets = [], []
    for i, (name, amount) in enumerate(sorted(write.adds.items())):
        names[f"#a{i}"], values[f":a{i}"] = name, {"N": str(amount)}
        adds.append(f"#a{i} :a{i}")
    for i, (name, value) in enumerate(sorted(write.sets.items())):
        names[f"#s{i}"], values[f":s{i}"] = name, {"S": value}
        # if_not_exists: an unsigned view never renames a post; the first title stored stays.
        sets.append(f"#s{i} = if_not_exists(#s{i}, :s{i})")
    for i, (name, value) in enumerate(sorted(write.overwrites.items())):
        names[f"#o{i}"], values[f":o{i}"] = name, {"S": value}
        sets.append(f"#o{i} = :o{i}")
    expression = "ADD " + ", ".join(adds) + (" SET " + ", ".join(sets) if sets else "")
    return {
        "Update": {
            "TableName": table,
            "Key": write.key,
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def marker_id(purpose: str, event_id: str) -> str:
    return f"{purpose}#{event_id}"


def marker_item(table: str, marker: str, received_at_ms: int) -> dict[str, Any]:
    """The marker expires a fixed time after the view was received, so a repeated
    transaction is byte-for-byte the same request (its ClientRequestToken must not
    come back with different parameters)."""
    expires_at = received_at_ms // 1000 + MARKER_TTL_SECONDS
    return {
        "Put": {
            "TableName": table,
            "Item": {"markerId": {"S": marker}, "expiresAt": {"N": str(expires_at)}},
            "ConditionExpression": "attribute_not_exists(markerId)",
        }
    }


def request_token(items: Sequence[dict[str, Any]]) -> str:
    """A hash of the request itself: DynamoDB answers an SDK retry of a committed
    transaction (within 10 minutes) with success instead of applying it again, and a
    token can never come back with other parameters (IdempotentParameterMismatch)."""
    canonical = json.dumps(list(items), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:TOKEN_LENGTH]


def transact_request(tables: Tables, purpose: str, write: KeyWrite) -> dict[str, Any]:
    """Pure: one key's TransactWriteItems arguments (the update, then a marker per event)."""
    items = [update_item(tables.counts, write)] + [
        marker_item(tables.markers, marker_id(purpose, d.event.eventId), d.event.receivedAt) for d in write.deliveries
    ]
    return {"TransactItems": items, "ClientRequestToken": request_token(items)}


def too_old(deliveries: Iterable[Delivered], now: int) -> tuple[list[Delivered], list[Delivered]]:
    """Pure: (fresh, refused). An event received MAX_EVENT_AGE ago or earlier could
    outlive its marker, so it is never counted (module docstring). `now` in epoch ms."""
    fresh: list[Delivered] = []
    refused: list[Delivered] = []
    for delivery in deliveries:
        age_ms = now - delivery.event.receivedAt
        (refused if age_ms >= MAX_EVENT_AGE_SECONDS * 1000 else fresh).append(delivery)
    return fresh, refused


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Answer:
    """What one TransactWriteItems call came back with."""

    committed: bool = False
    error: str = ""
    """The error code DynamoDB answered, or the exception's name when it never answered."""
    reasons: tuple[str, ...] = ()
    """The cancellation reasons' codes, item by item (the update, then the markers in order)."""
    answered: bool = True
    """False when the call got no answer from DynamoDB (a timeout, a lost connection)."""


@dataclass(frozen=True)
class Verdict:
    """What to do after an answer: done, drop the events already counted and try the
    rest, try the same request again (a conflict), or report the messages as failed."""

    action: Literal["done", "drop", "retry", "fail"]
    counted: frozenset[str] = frozenset()
    """With "drop": markers whose condition failed, counted by an earlier delivery."""


def attempt(ddb: Any, request: dict[str, Any]) -> Answer:
    """The one I/O step: send a transaction, and say what came back without judging it."""
    try:
        ddb.transact_write_items(**request)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        reasons = exc.response.get("CancellationReasons") or []
        return Answer(error=code, reasons=tuple(r.get("Code", "") for r in reasons))
    except BotoCoreError as exc:
        return Answer(error=type(exc).__name__, answered=False)
    return Answer(committed=True)


def interpret(answer: Answer, markers: Sequence[str], conflicts: int) -> Verdict:
    """Pure: the next step after `answer` to a transaction with these markers, after
    `conflicts` conflict retries of this key so far."""
    if answer.committed:
        return Verdict("done")
    if answer.error != "TransactionCanceledException":
        return Verdict("fail")
    # Reason 0 is the update's; reasons 1.. are the markers', in order.
    counted = frozenset(m for m, r in zip(markers, answer.reasons[1:], strict=False) if r == "ConditionalCheckFailed")
    if counted:
        return Verdict("drop", counted)
    # Cancelled with no marker counted: another consumer holds the same key.
    return Verdict("retry") if conflicts < CONFLICT_RETRIES else Verdict("fail")


def commit(
    ddb: Any,
    tables: Tables,
    purpose: str,
    write: KeyWrite,
    recount: Callable[[list[Delivered]], KeyWrite],
) -> list[str]:
    """Apply one key's write exactly once; return the messageIds that failed."""
    pending = write
    conflicts = 0
    while pending.deliveries:
        markers = [marker_id(purpose, d.event.eventId) for d in pending.deliveries]
        answer = attempt(ddb, transact_request(tables, purpose, pending))
        verdict = interpret(answer, markers, conflicts)
        if verdict.action == "done":
            return []
        if verdict.action == "drop":
            log("info", "duplicate_skipped", purpose=purpose, count=len(verdict.counted))
            remaining = [d for d, m in zip(pending.deliveries, markers, strict=True) if m not in verdict.counted]
            pending = recount(remaining) if remaining else KeyWrite(key=write.key)
        elif verdict.action == "retry":
            conflicts += 1
            time.sleep(CONFLICT_BACKOFF_SECONDS * conflicts)
        else:
            extra = {"messages": len(markers)} if answer.answered else {}
            log("error", "count_write_failed", purpose=purpose, error=answer.error, **extra)
            return pending.message_ids
    return []


def count_exactly_once(
    ddb: Any, tables: Tables, purpose: str, deliveries: list[Delivered], key_of: KeyOf, now: int | None = None
) -> list[str]:
    """Refuse events too old to count, aggregate the rest, then commit each key; the
    messageIds to report as failed. `now` (epoch ms) is the clock, for tests."""

    def recount(subset: list[Delivered]) -> KeyWrite:
        return aggregate(subset, key_of)[0]

    clock = now_ms() if now is None else now
    fresh, refused = too_old(deliveries, clock)
    failed = [d.message_id for d in refused]
    if refused:
        # Counts and ages only: they reach the DLQ, where an operator finds them.
        oldest = min(d.event.receivedAt for d in refused)
        log(
            "warn",
            "event_too_old",
            purpose=purpose,
            events=len(refused),
            oldestAgeDays=round((clock - oldest) / (DAY_SECONDS * 1000), 1),
            maxAgeDays=MAX_EVENT_AGE_SECONDS // DAY_SECONDS,
        )
    for write in aggregate(fresh, key_of):
        step = MAX_MARKERS_PER_TRANSACTION
        parts = (
            [write]
            if len(write.deliveries) <= step
            else [recount(write.deliveries[i : i + step]) for i in range(0, len(write.deliveries), step)]
        )
        for part in parts:
            failed.extend(commit(ddb, tables, purpose, part, recount))
    return failed
