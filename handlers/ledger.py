"""Exactly-once counting: each key's increment and its events' markers in one transaction.

For every key a batch touches, one TransactWriteItems holds the ADD to the count
and a conditional Put of a marker per event (`<purpose>#<eventId>`, expired by TTL
after the longest time SQS can still redeliver). A redelivered message, a
redriven one, or an SDK retry of a committed transaction finds its marker and is
skipped; a failure leaves nothing behind, so the message is simply retried.

One transaction per key (not per batch) means a throttled or failing write reports
exactly the messages that fed it, and concurrent consumers conflict only on the
same key. Cost (on-demand, items under 1 KB): 2 write units per marker and 2 per
key update, so 4 WRU per view at batch size 1 and 2.2-4 WRU per view at 10.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers.log import log
from handlers.sqs import Delivered

MARKER_TTL_SECONDS = 15 * 24 * 3600  # SQS keeps a message (and its DLQ copy) up to 14 days
MAX_MARKERS_PER_TRANSACTION = 99  # a transaction holds at most 100 items: the update + 99 markers
CONFLICT_RETRIES = 3


@dataclass
class KeyWrite:
    """One key's increment for a batch and the deliveries that fed it."""

    key: dict[str, dict[str, str]]
    adds: dict[str, int] = field(default_factory=dict)
    sets: dict[str, str] = field(default_factory=dict)
    deliveries: list[Delivered] = field(default_factory=list)

    @property
    def message_ids(self) -> list[str]:
        return [d.message_id for d in self.deliveries]


KeyOf = Callable[[Delivered], tuple[dict[str, dict[str, str]], dict[str, int], dict[str, str]] | None]


def aggregate(deliveries: Iterable[Delivered], key_of: KeyOf) -> tuple[list[KeyWrite], list[Delivered]]:
    """Pure: group deliveries into one write per key.

    key_of gives (key, counts to add, attributes to set) or None for a delivery with
    nothing to count. A second delivery of the same eventId in one batch (SNS
    delivered it twice) is returned apart as a duplicate: already counted here.
    """
    writes: dict[str, KeyWrite] = {}
    duplicates: list[Delivered] = []
    seen: set[str] = set()
    for delivery in deliveries:
        if delivery.event.eventId in seen:
            duplicates.append(delivery)
            continue
        seen.add(delivery.event.eventId)
        spec = key_of(delivery)
        if spec is None:
            duplicates.append(delivery)  # nothing to count: done
            continue
        key, adds, sets = spec
        identity = repr(sorted((k, v["S"]) for k, v in key.items()))
        write = writes.setdefault(identity, KeyWrite(key=key))
        for name, amount in adds.items():
            write.adds[name] = write.adds.get(name, 0) + amount
        write.sets.update(sets)  # the latest value in the batch wins
        write.deliveries.append(delivery)
    return list(writes.values()), duplicates


def update_item(table: str, write: KeyWrite) -> dict[str, Any]:
    names: dict[str, str] = {}
    values: dict[str, dict[str, str]] = {}
    adds, sets = [], []
    for i, (name, amount) in enumerate(sorted(write.adds.items())):
        names[f"#a{i}"], values[f":a{i}"] = name, {"N": str(amount)}
        adds.append(f"#a{i} :a{i}")
    for i, (name, value) in enumerate(sorted(write.sets.items())):
        names[f"#s{i}"], values[f":s{i}"] = name, {"S": value}
        sets.append(f"#s{i} = :s{i}")
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
    """Same transaction, same token: DynamoDB answers an SDK retry of a committed
    transaction (within 10 minutes) with success instead of applying it again. Made from
    the whole request, not its markers alone: a view resent with its viewId has the
    first one's marker but a later receivedAt, and a token that comes back with other
    parameters is refused (IdempotentParameterMismatch) instead of finding the marker."""
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:36]


def _already_counted(exc: ClientError, markers: Sequence[str]) -> set[str]:
    """Markers whose condition failed: those events were counted by an earlier delivery."""
    reasons = exc.response.get("CancellationReasons") or []
    # Item 0 is the update; items 1.. are the markers, in order.
    return {m for m, r in zip(markers, reasons[1:], strict=False) if r.get("Code") == "ConditionalCheckFailed"}


@dataclass(frozen=True)
class Tables:
    counts: str
    markers: str


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
        items = [update_item(tables.counts, pending)] + [
            marker_item(tables.markers, m, d.event.receivedAt) for m, d in zip(markers, pending.deliveries, strict=True)
        ]
        try:
            ddb.transact_write_items(TransactItems=items, ClientRequestToken=request_token(items))
            return []
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            counted = _already_counted(exc, markers) if code == "TransactionCanceledException" else set()
            if counted:
                log("info", "duplicate_skipped", purpose=purpose, count=len(counted))
                remaining = [d for d, m in zip(pending.deliveries, markers, strict=True) if m not in counted]
                pending = recount(remaining) if remaining else KeyWrite(key=write.key)
                continue
            if code == "TransactionCanceledException" and conflicts < CONFLICT_RETRIES:
                conflicts += 1  # another consumer holds the same key: try again shortly
                time.sleep(0.05 * conflicts)
                continue
            log("error", "count_write_failed", purpose=purpose, error=code, messages=len(pending.deliveries))
            return pending.message_ids
        except BotoCoreError as exc:
            log("error", "count_write_failed", purpose=purpose, error=type(exc).__name__)
            return pending.message_ids
    return []


def count_exactly_once(ddb: Any, tables: Tables, purpose: str, deliveries: list[Delivered], key_of: KeyOf) -> list[str]:
    """Aggregate, then commit each key; the messageIds to report as failed."""

    def recount(subset: list[Delivered]) -> KeyWrite:
        return aggregate(subset, key_of)[0][0]

    writes, _nothing_to_count = aggregate(deliveries, key_of)
    failed: list[str] = []
    for write in writes:
        step = MAX_MARKERS_PER_TRANSACTION
        parts = (
            [write]
            if len(write.deliveries) <= step
            else [recount(write.deliveries[i : i + step]) for i in range(0, len(write.deliveries), step)]
        )
        for part in parts:
            failed.extend(commit(ddb, tables, purpose, part, recount))
    return failed
