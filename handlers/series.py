"""series: the count tables' streams into hourly and daily snapshots in `<stack>-Series`.

One module runs as three functions (series-posts, series-pages, series-referrers), one per
stream. Every record's new image carries a running all-time total; the Series item of the
record's hour (posts, pages) or day (referrers) keeps the HIGHEST total seen in a record of
that hour or day: `SET x = :v` conditioned on `attribute_not_exists(x) OR x < :v`. So a
replayed, duplicated or reordered record can never change a snapshot, and the views of an
hour are its snapshot minus the key's previous snapshot (the report subtracts; nothing here
adds). A batch is coalesced per (seriesKey, bucket) first: one write per item per batch.

Items (DESIGN.md; the report reads them):
    post#<articleId>  <YYYY-MM-DDTHH>                  totalViews, uniqueViews
    page#<pageName>   <YYYY-MM-DDTHH>                  totalViews, uniqueViews
    ref#<origin>      <YYYY-MM-DD>#post#<articleId>    views   (or ...#page#<pageName>)
and, only when alerts are on (ALERT_VIEWS_PER_HOUR > 0), for the alert's top referrer:
    refh#<target>     <YYYY-MM-DDTHH>#<origin>         views (highest total seen that hour),
                                                       base (lowest total before a record of
                                                       that hour: the stream's old image)
so an origin's views of a target within an hour are `views - base`, from one Query.

Which hour a view belongs to: its record's ApproximateCreationDateTime, the second (rounded
down) DynamoDB committed the count, never the time the batch reaches this function (the
batching window and retries move nothing). A key's records are in order in its shard, so its
snapshots rise with its buckets. The commit follows the view's receipt by the queue's delivery
and the counter's run (about a second with no batching window), so only views received in the
last seconds of an hour can be counted in the next; never in an earlier one. Under faults the
lag is the queue's retries (up to maxReceiveCount x the visibility timeout: 5 x 180 s) plus the
counter's batching window, and a view redriven from a DLQ counts in the hour of its redrive.
A record skipped after the mapping's retries loses no view either: the key's next record
carries the running total into its own bucket (and an alarm reports the on-failure queue).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from handlers import alerts, aws
from handlers.batch import BatchResponse, batch_response
from handlers.log import log
from handlers.settings import load_settings
from handlers.wiring import SERIES

HOUR = "%Y-%m-%dT%H"
DAY = "%Y-%m-%d"
TARGET_KINDS = ("post", "page")


class Snapshot(NamedTuple):
    """What one record says about one Series item."""

    series_key: str
    bucket: str
    totals: tuple[tuple[str, int], ...]
    """(attribute, running total), the lead attribute first: each is max-merged."""
    base: int | None = None
    """refh items only: the running total before the record, min-merged."""


@dataclass
class ItemWrite:
    """One Series item's write for a batch, and the records that fed it."""

    series_key: str
    bucket: str
    totals: dict[str, int]
    base: int | None
    sequence_numbers: list[str] = field(default_factory=list)

    @property
    def lead(self) -> str:
        return next(iter(self.totals))


class SeriesBatch(NamedTuple):
    snapshots: list[tuple[str, Snapshot]]
    """(sequence number, snapshot) in stream order."""
    rejected: list[str]
    """Sequence numbers of records that cannot be read."""


def bucket_time(seconds: object) -> datetime:
    """The record's commit time; Lambda sends epoch seconds as a number."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError("ApproximateCreationDateTime: not epoch seconds")
    return datetime.fromtimestamp(int(seconds), UTC)


def _count(image: Mapping[str, Any], name: str) -> int | None:
    if name not in image:
        return None
    value = int(image[name]["N"])
    if value < 0:
        raise ValueError(f"{name}: negative")
    return value


def _name(image: Mapping[str, Any], name: str) -> str:
    value = image[name]["S"]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: empty")
    return value


def target_key(target: str) -> str:
    """The Referrer table's `post:<id>` / `page:<name>` as Series spells it: `post#<id>`."""
    kind, _, name = target.partition(":")
    if kind not in TARGET_KINDS or not name:
        raise ValueError("target: neither post:<id> nor page:<name>")
    return f"{kind}#{name}"


def snapshots_of(record: Mapping[str, Any], hourly_referrers: bool) -> list[Snapshot]:
    """Pure: the Series items one stream record feeds; ValueError (or KeyError) when malformed."""
    if record.get("eventName") == "REMOVE":
        return []  # counts are never deleted; an operator's delete leaves the history alone
    data = record["dynamodb"]
    new = data["NewImage"]
    when = bucket_time(data.get("ApproximateCreationDateTime"))
    hour = when.strftime(HOUR)
    if "articleId" in new or "pageName" in new:
        kind, name = ("post", _name(new, "articleId")) if "articleId" in new else ("page", _name(new, "pageName"))
        total = _count(new, "totalViews")
        if total is None:
            # moto records an UpdateItem that creates an item as a key-only INSERT first.
            return []
        unique = _count(new, "uniqueViews") or 0
        return [Snapshot(f"{kind}#{name}", hour, (("totalViews", total), ("uniqueViews", unique)))]
    origin, target = _name(new, "referrer"), target_key(_name(new, "target"))
    views = _count(new, "views")
    if views is None:
        return []
    found = [Snapshot(f"ref#{origin}", f"{when.strftime(DAY)}#{target}", (("views", views),))]
    if hourly_referrers:
        before = _count(data.get("OldImage") or {}, "views") or 0
        found.append(Snapshot(f"refh#{target}", f"{hour}#{origin}", (("views", views),), base=min(before, views)))
    return found


def parse_stream_batch(event: Mapping[str, Any], hourly_referrers: bool = False) -> SeriesBatch:
    snapshots: list[tuple[str, Snapshot]] = []
    rejected: list[str] = []
    for record in event.get("Records", []):
        sequence_number = str((record.get("dynamodb") or {}).get("SequenceNumber", ""))
        try:
            found = snapshots_of(record, hourly_referrers)
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            rejected.append(sequence_number)
            continue
        snapshots += [(sequence_number, s) for s in found]
    return SeriesBatch(snapshots, rejected)


def coalesce(snapshots: Iterable[tuple[str, Snapshot]]) -> list[ItemWrite]:
    """Pure: one write per (seriesKey, bucket): the highest totals and the lowest base."""
    writes: dict[tuple[str, str], ItemWrite] = {}
    for sequence_number, snapshot in snapshots:
        key = (snapshot.series_key, snapshot.bucket)
        write = writes.get(key)
        if write is None:
            write = writes[key] = ItemWrite(snapshot.series_key, snapshot.bucket, dict(snapshot.totals), snapshot.base)
        else:
            for name, value in snapshot.totals:
                write.totals[name] = max(write.totals.get(name, 0), value)
            if snapshot.base is not None:
                write.base = snapshot.base if write.base is None else min(write.base, snapshot.base)
        write.sequence_numbers.append(sequence_number)
    return list(writes.values())


def _key(write: ItemWrite) -> dict[str, dict[str, str]]:
    return {"seriesKey": {"S": write.series_key}, "bucket": {"S": write.bucket}}


def update_request(table: str, write: ItemWrite) -> dict[str, Any]:
    """Pure: the one conditional UpdateItem that max-merges the totals (and min-merges a base).

    With a base, the condition also asks that the stored base is not above ours, so the one
    write is right whenever it applies; otherwise merge_separately does each half."""
    names = {f"#t{i}": name for i, name in enumerate(write.totals)}
    values = {f":t{i}": {"N": str(value)} for i, value in enumerate(write.totals.values())}
    sets = [f"#t{i} = :t{i}" for i in range(len(write.totals))]
    condition = "attribute_not_exists(#t0) OR #t0 < :t0"
    if write.base is not None:
        names["#b"], values[":b"] = "base", {"N": str(write.base)}
        sets.append("#b = if_not_exists(#b, :b)")
        condition = "attribute_not_exists(#t0) OR (#t0 < :t0 AND #b <= :b)"
    return {
        "TableName": table,
        "Key": _key(write),
        "UpdateExpression": "SET " + ", ".join(sets),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _conditional(ddb: Any, request: dict[str, Any]) -> bool:
    """True when applied, False when its condition held it back (the item already knows better)."""
    return aws.written(ddb.update_item, **request)


def merge_separately(ddb: Any, table: str, write: ItemWrite) -> None:
    """The rare path (a replayed or repaired record of an hour already written): raise the
    views and lower the base each on its own condition."""
    lead, value = write.lead, write.totals[write.lead]
    _conditional(
        ddb,
        {
            "TableName": table,
            "Key": _key(write),
            "UpdateExpression": "SET #t = :t",
            "ConditionExpression": "attribute_not_exists(#t) OR #t < :t",
            "ExpressionAttributeNames": {"#t": lead},
            "ExpressionAttributeValues": {":t": {"N": str(value)}},
        },
    )
    _conditional(
        ddb,
        {
            "TableName": table,
            "Key": _key(write),
            "UpdateExpression": "SET #b = :b",
            "ConditionExpression": "attribute_not_exists(#b) OR #b > :b",
            "ExpressionAttributeNames": {"#b": "base"},
            "ExpressionAttributeValues": {":b": {"N": str(write.base)}},
        },
    )


def write_snapshot(ddb: Any, table: str, write: ItemWrite) -> None:
    if not _conditional(ddb, update_request(table, write)) and write.base is not None:
        merge_separately(ddb, table, write)


def write_all(ddb: Any, table: str, writes: list[ItemWrite]) -> tuple[list[ItemWrite], list[str]]:
    """(the writes that hold now, the sequence numbers of those that failed)."""
    done: list[ItemWrite] = []
    failed: list[str] = []
    for write in writes:
        try:
            write_snapshot(ddb, table, write)
        except (ClientError, BotoCoreError) as exc:
            log("error", "series_write_failed", error=type(exc).__name__)
            failed += write.sequence_numbers
            continue
        done.append(write)
    return done, failed


def handler(event: dict[str, Any], context: object) -> BatchResponse:
    settings = load_settings()
    batch = parse_stream_batch(event, hourly_referrers=settings.alert_views_per_hour > 0)
    ddb, table = aws.client("dynamodb"), settings.table(SERIES)
    done, failed = write_all(ddb, table, coalesce(batch.snapshots))
    if settings.alert_topic_arn and settings.alert_views_per_hour > 0:
        rule = alerts.Rule(settings.stack, settings.alert_topic_arn, settings.alert_views_per_hour)
        for write in done:
            if write.series_key.startswith(alerts.ALERTING_PREFIXES) and not alerts.check(
                ddb, aws.client("sns"), table, rule, write.series_key, write.bucket, write.totals[write.lead]
            ):
                failed += write.sequence_numbers
    if batch.rejected:
        log("error", "series_records_rejected", records=len(batch.rejected))
    return batch_response(batch.rejected + failed)
