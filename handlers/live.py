"""The live fan-out: push a target's counts and readingNow to every connection following it.

One module behind three functions, one per stream (wiring.LIVE_FUNCTIONS): PostCountReader
and HomeAndProfile (counts changed) and Connections (a connection moved, watched, or went
away). A batch is handled in two steps:

1. Memberships (Connections records only): each connection named in the batch gets the
   follower items its *current* item asks for, and loses those its old images named and
   it no longer follows. Reading the current item rather than trusting the record makes a
   replayed or retried record harmless: it can never bring back an old target.
2. Pushes, once per target per batch (the mapping's batching window is the stack's
   liveIntervalSeconds): a Query of the target's partition lists its followers (never a
   Scan), the counts are read from the count table as stored now, and each follower gets
   `{"message":"counts",...}`, PUSH_THREADS posts at a time (one round trip each on AWS).
   Pushing what is stored now, not the stream's image, means a replayed or late record
   pushes current counts, never older ones: stored counts only grow.
   A follower that is gone (410) is forgotten (its connection item and this follower item;
   the stream REMOVE does the rest) and the others get the corrected readingNow.

With liveIntervalSeconds 0 (live counts off) no stream invokes it at all
(wiring.with_live_interval). Connection ids are never logged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from handlers import aws, connections
from handlers.attributes import Item, text
from handlers.batch import BatchResponse, batch_response
from handlers.connections import READING, READING_NOW_SORT, WATCHING
from handlers.log import log
from handlers.schema import PageCountsPush, PostCountsPush
from handlers.settings import Settings, load_settings
from handlers.store import batch_get, get_page, get_post
from handlers.wiring import CONNECTIONS, HOME_AND_PROFILE, POST_COUNT_READER

MAX_BATCH_WRITE = 25
"""DynamoDB's limit of requests in one BatchWriteItem."""
WRITE_ATTEMPTS = 5
"""BatchWriteItem calls for one chunk before its unprocessed items fail the records."""
PUSH_THREADS = 10
"""PostToConnection calls in flight at once. Each is a network round trip on AWS, so a
hundred followers posted one after another wait a hundred round trips; ten at a time wait
ten. Ten is also botocore's connection pool per client (max_pool_connections), so no
thread waits for a connection or opens one the pool would discard."""

Membership = tuple[str, bool]
"""(target, reading): reading is the connection's view target, else a watched target."""


@dataclass
class LiveBatch:
    """What a batch of stream records asks for."""

    targets: dict[str, list[str]] = field(default_factory=dict)
    """Target -> sequence numbers of the records that changed its counts or readingNow."""
    memberships: dict[str, set[Membership]] = field(default_factory=dict)
    """Connection id -> every membership its records' images named."""
    membership_records: dict[str, list[str]] = field(default_factory=dict)
    """Connection id -> sequence numbers of its records."""
    rejected: list[str] = field(default_factory=list)


def _memberships(image: Item) -> set[Membership]:
    found: set[Membership] = set()
    if text(image, "target"):
        found.add((text(image, "target"), True))
    for watched in image.get("watching", {}).get("SS", []):
        found.add((str(watched), False))
    return found


def _read_record(record: Mapping[str, Any], batch: LiveBatch) -> None:
    data = record["dynamodb"]
    seq = str(data["SequenceNumber"])
    new, old = data.get("NewImage") or {}, data.get("OldImage") or {}
    image = new or old
    keys = data.get("Keys") or image
    if "articleId" in keys:
        batch.targets.setdefault(f"post:{keys['articleId']['S']}", []).append(seq)
    elif "pageName" in keys:
        batch.targets.setdefault(f"page:{keys['pageName']['S']}", []).append(seq)
    elif keys["pk"]["S"].startswith(connections.CONNECTION_PREFIX) and keys["sk"]["S"] == connections.CONNECTION_SORT:
        connection_id = keys["pk"]["S"].removeprefix(connections.CONNECTION_PREFIX)
        if new and _memberships(old) == _memberships(new):
            return  # a view of the same target again: views already put its reader item
        batch.memberships.setdefault(connection_id, set()).update(_memberships(old) | _memberships(new))
        batch.membership_records.setdefault(connection_id, []).append(seq)
        if text(old, "target") != text(new, "target"):
            for target in {text(old, "target"), text(new, "target")} - {""}:
                batch.targets.setdefault(target, []).append(seq)
    # Follower and readingNow items are the fan-out's own writes: nothing to do.


def parse_batch(event: Mapping[str, Any]) -> LiveBatch:
    """Pure: stream records of any of the three tables -> what to reconcile and push."""
    batch = LiveBatch()
    for record in event.get("Records", []):
        try:
            _read_record(record, batch)
        except (KeyError, TypeError, AttributeError):
            batch.rejected.append(str((record.get("dynamodb") or {}).get("SequenceNumber", "")))
    return batch


def desired(item: Item, now: float) -> set[Membership]:
    """Pure: what a connection's current item asks to follow (nothing once it is gone)."""
    return _memberships(item) if item and connections.is_live(item, now) else set()


def membership_writes(
    named: Mapping[str, set[Membership]], current: Mapping[str, Item], now: float
) -> list[dict[str, Any]]:
    """Pure: BatchWriteItem requests that make the follower items match the connections' items."""
    writes: list[dict[str, Any]] = []
    for connection_id, memberships in sorted(named.items()):
        item = current.get(connection_id, {})
        wanted = desired(item, now)
        for target, reading in sorted(memberships - wanted):
            writes.append({"DeleteRequest": {"Key": connections.follower_key(target, connection_id, reading)}})
        for target, reading in sorted(wanted):
            key = connections.follower_key(target, connection_id, reading)
            expiry = {connections.TTL_ATTRIBUTE: item[connections.TTL_ATTRIBUTE]}
            writes.append({"PutRequest": {"Item": {**key, **expiry}}})
    return writes


def write_all(ddb: Any, table: str, writes: list[dict[str, Any]]) -> None:
    """BatchWriteItem in chunks of 25, asking again for unprocessed items a bounded number of times."""
    for start in range(0, len(writes), MAX_BATCH_WRITE):
        pending = writes[start : start + MAX_BATCH_WRITE]
        for _ in range(WRITE_ATTEMPTS):
            response = ddb.batch_write_item(RequestItems={table: pending})
            pending = response.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                break
        else:
            raise RuntimeError(f"{len(pending)} membership writes left unprocessed")


def reconcile(ddb: Any, table: str, batch: LiveBatch, now: float) -> list[str]:
    """Step 1; returns the sequence numbers to retry when the table could not be written."""
    if not batch.memberships:
        return []
    ids = sorted(batch.memberships)
    try:
        found = batch_get(ddb, {table: [connections.connection_key(i) for i in ids]}, max_calls=5)
        current = {text(item, "pk").removeprefix(connections.CONNECTION_PREFIX): item for item in found[table]}
        write_all(ddb, table, membership_writes(batch.memberships, current, now))
    except (ClientError, BotoCoreError, RuntimeError) as exc:
        log("error", "live_memberships_failed", connections=len(ids), error=type(exc).__name__)
        return [seq for i in ids for seq in batch.membership_records[i]]
    return []


@dataclass(frozen=True)
class Followers:
    readers: frozenset[str]
    watchers: frozenset[str]

    @property
    def everyone(self) -> list[str]:
        return sorted(self.readers | self.watchers)


def followers_of(items: Iterable[Item], now: float) -> Followers:
    """Pure: the open followers among a target's items (expired ones are TTL's to delete)."""
    readers: set[str] = set()
    watchers: set[str] = set()
    for item in items:
        sort_key = text(item, "sk")
        if sort_key == READING_NOW_SORT or not connections.is_live(item, now):
            continue
        if sort_key.startswith(READING):
            readers.add(sort_key.removeprefix(READING))
        elif sort_key.startswith(WATCHING):
            watchers.add(sort_key.removeprefix(WATCHING))
    return Followers(frozenset(readers), frozenset(watchers))


def query_followers(ddb: Any, table: str, target: str, now: float) -> Followers:
    items: list[Item] = []
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :target",
        "ExpressionAttributeValues": {":target": {"S": target}},
        "ConsistentRead": True,
    }
    while True:
        response = ddb.query(**request)
        items += response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return followers_of(items, now)
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def push_body(ddb: Any, settings: Settings, target: str, reading_now: int) -> bytes:
    """The push for a target: its counts as stored now (consistent), never a stream image's."""
    kind, _, name = target.partition(":")
    if kind == "post":
        post = get_post(ddb, settings.table(POST_COUNT_READER), name, consistent=True)
        return PostCountsPush(**post.model_dump(), readingNow=reading_now).model_dump_json().encode()
    page = get_page(ddb, settings.table(HOME_AND_PROFILE), name, consistent=True)
    return PageCountsPush(**page.model_dump(), readingNow=reading_now).model_dump_json().encode()


@cache
def management_client(endpoint: str) -> Any:
    config = aws.botocore_config(aws.TIMEOUTS).merge(Config(max_pool_connections=PUSH_THREADS))
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, config=config)


@cache
def _push_pool() -> ThreadPoolExecutor:
    # Its own pool, not aws.concurrently's: locally every function shares the process, and a
    # views reply must not queue behind a hundred pushes.
    return ThreadPoolExecutor(max_workers=PUSH_THREADS, thread_name_prefix="live-push")


GONE, FAILED, SENT = "gone", "failed", "sent"


def post_one(api: Any, connection_id: str, body: bytes) -> str:
    """One PostToConnection (botocore's bounded retries inside): SENT, GONE (410) or FAILED."""
    try:
        api.post_to_connection(ConnectionId=connection_id, Data=body)
    except ClientError as exc:
        return GONE if exc.response.get("Error", {}).get("Code") == "GoneException" else FAILED
    except BotoCoreError:
        return FAILED
    return SENT


def post_all(api: Any, connection_ids: Iterable[str], body: bytes) -> set[str]:
    """PostToConnection to each, PUSH_THREADS at a time; returns those that are gone (410).
    Other errors are logged and skipped: the next change pushes again, and one follower never
    fails the others. Returns only once every post has ended, so no post outlives the
    invocation and a later push (the corrected readingNow, the next batch) cannot overtake it."""
    ids = list(connection_ids)
    futures = [_push_pool().submit(post_one, api, connection_id, body) for connection_id in ids]
    wait(futures)  # all of them, even if one raised something unforeseen
    outcomes = [future.result() for future in futures]
    failed = outcomes.count(FAILED)
    if failed:
        log("warn", "live_push_failed", connections=failed)
    return {connection_id for connection_id, outcome in zip(ids, outcomes, strict=True) if outcome == GONE}


def forget_gone(ddb: Any, table: str, target: str, followers: Followers, gone: set[str]) -> None:
    """A gone connection's item (the stream REMOVE clears its other targets) and its items here."""
    writes: list[dict[str, Any]] = []
    for connection_id in sorted(gone):
        writes.append({"DeleteRequest": {"Key": connections.connection_key(connection_id)}})
        for reading in (True, False):
            if connection_id in (followers.readers if reading else followers.watchers):
                writes.append({"DeleteRequest": {"Key": connections.follower_key(target, connection_id, reading)}})
    write_all(ddb, table, writes)


def keep_reading_now(ddb: Any, table: str, target: str, reading_now: int, now: float) -> None:
    """What `watch` replies read for the target (a key read, not a Query per target).

    It expires as a connection's items do: every reader it counted has closed by then, and a
    new one would have written it again. That also ends a count left from before live counts
    were turned off and on again, when no departure was recorded.
    """
    expiry = connections.expires_at(0, now)
    ddb.put_item(
        TableName=table,
        Item={
            **connections.reading_now_key(target),
            "readingNow": {"N": str(reading_now)},
            connections.TTL_ATTRIBUTE: {"N": str(expiry)},
        },
    )


def fan_out(ddb: Any, api: Any | None, settings: Settings, target: str, readers_changed: bool, now: float) -> None:
    """Step 2 for one target; `api` None: pushes are off."""
    table = settings.table(CONNECTIONS)
    followers = query_followers(ddb, table, target, now)
    reading_now = len(followers.readers)
    if api is not None and followers.everyone:
        gone = post_all(api, followers.everyone, push_body(ddb, settings, target, reading_now))
        if gone:
            forget_gone(ddb, table, target, followers, gone)
            log("info", "live_gone_forgotten", connections=len(gone))
            still_reading = followers.readers - gone
            if len(still_reading) != reading_now:
                reading_now = len(still_reading)
                readers_changed = True
                left = sorted(set(followers.everyone) - gone)
                post_all(api, left, push_body(ddb, settings, target, reading_now))
    if readers_changed:
        keep_reading_now(ddb, table, target, reading_now, now)


def handler(event: dict[str, Any], context: object) -> BatchResponse:
    settings, ddb = load_settings(), aws.client("dynamodb")
    batch = parse_batch(event)
    now = connections.now()
    failed = batch.rejected + reconcile(ddb, settings.table(CONNECTIONS), batch, now)
    endpoint = settings.connections_endpoint if settings.live_counts else None
    api = management_client(endpoint) if endpoint else None
    moved = {seq for seqs in batch.membership_records.values() for seq in seqs}
    for target, seqs in batch.targets.items():
        if set(seqs) & set(failed):
            continue  # retried with its memberships
        try:
            fan_out(ddb, api, settings, target, readers_changed=bool(moved & set(seqs)), now=now)
        except (ClientError, BotoCoreError, RuntimeError) as exc:
            log("error", "live_fan_out_failed", error=type(exc).__name__)
            failed += seqs
    return batch_response(failed)
