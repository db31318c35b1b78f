"""The Connections table: open connections and the targets they follow, only while open.

One table, two kinds of item (hash `pk`, range `sk`, both strings):

| item | pk | sk | attributes |
|---|---|---|---|
| a connection | `conn#<connectionId>` | `conn` | `target` (its last view), `watching` (string set), `expiresAt` |
| a follower of a target | `<target>` | `r#<connectionId>` (reading) or `w#<connectionId>` (watching) | `expiresAt` |
| a target's last readingNow | `<target>` | `n` | `readingNow` (what the fan-out last pushed) |

A target is `post:<articleId>` or `page:<pageName>` (schema.ViewEvent.target); article ids
never hold `#`, so no target can be taken for a connection's item. The fan-out is a Query
of one target's partition, never a Scan, and `readingNow` is a consistent Query of its `r#`
items (COUNT: a few bytes an item, half a read unit for a hundred readers).

Who writes what: `views` and `watch` write the connection's item (one UpdateItem; `views`,
and `watch` naming the target it is `reading`, also put its reader item at once, so the
next reader's reply counts it); the live fan-out
(handlers/live.py) reads the table's stream and keeps the follower items in line with it,
so a connection that moves, stops watching or goes away (`$disconnect` deletes its item; a
push that finds it gone, 410, too) leaves its old targets. Every item expires (`expiresAt`,
DynamoDB's free TTL) after API Gateway's 2-hour connection limit, so a `$disconnect` that
never came cannot keep an id longer; readers of the table ignore expired items, since TTL
deletes them only eventually. The stack's per-connection views budget (viewsPerConnection)
is one more attribute of the connection's item, `views`, counted by the same UpdateItem
that moves its target, under a condition: no other per-connection state.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from handlers import aws
from handlers.attributes import Item, number

CONNECTION_PREFIX = "conn#"
CONNECTION_SORT = "conn"
READING = "r#"
WATCHING = "w#"
READING_NOW_SORT = "n"
TTL_ATTRIBUTE = "expiresAt"
VIEWS_ATTRIBUTE = "views"
"""Views this connection has sent (the viewsPerConnection budget)."""

CONNECTION_LIMIT_SECONDS = 2 * 60 * 60
"""API Gateway closes every WebSocket connection after 2 hours."""
EXPIRY_MARGIN_SECONDS = 10 * 60
"""Past the limit, so no open connection's items can expire."""


def connection_key(connection_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": CONNECTION_PREFIX + connection_id}, "sk": {"S": CONNECTION_SORT}}


def follower_key(target: str, connection_id: str, reading: bool) -> dict[str, dict[str, str]]:
    return {"pk": {"S": target}, "sk": {"S": (READING if reading else WATCHING) + connection_id}}


def reading_now_key(target: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": target}, "sk": {"S": READING_NOW_SORT}}


def expires_at(connected_at_ms: int, now: float) -> int:
    """Pure: when every item of a connection that opened at `connected_at_ms` may go.

    From the connection's start: it cannot outlive API Gateway's limit. A message proves the
    connection open now, so an unknown or implausible start counts from now instead.
    """
    start = connected_at_ms / 1000 if connected_at_ms else now
    expiry = int(start) + CONNECTION_LIMIT_SECONDS + EXPIRY_MARGIN_SECONDS
    return expiry if expiry > now else int(now) + CONNECTION_LIMIT_SECONDS + EXPIRY_MARGIN_SECONDS


def is_live(item: Item, now: float) -> bool:
    """Not yet expired (TTL deletes expired items only eventually)."""
    return number(item, TTL_ATTRIBUTE) > now


class Followed(NamedTuple):
    within_budget: bool
    held_target: str | None = None
    """When the budget was spent: the target the connection kept (its item is unchanged)."""


def follow_target(
    ddb: Any, table: str, connection_id: str, target: str | None, expiry: int, budget: int = 0
) -> Followed:
    """Make `target` the connection's target (a later view moves it) and count the view
    against the connection's budget; when the budget is spent nothing changes, and the
    answer names the target the connection kept (the refused write returns the old item).

    `budget` 0 is none. A view sent again with the same viewId (after `unavailable`) is
    counted against the budget again: the budget bounds the frames a connection sends.
    `target` None (live counts off) counts the view and stores no target: nothing follows it.
    """
    names = {"#expires": TTL_ATTRIBUTE, "#views": VIEWS_ATTRIBUTE}
    values: dict[str, Any] = {":expires": {"N": str(expiry)}, ":one": {"N": "1"}}
    sets = "#expires = :expires"
    if target is not None:
        names["#target"], values[":target"] = "target", {"S": target}
        sets = "#target = :target, " + sets
    request: dict[str, Any] = {
        "TableName": table,
        "Key": connection_key(connection_id),
        "UpdateExpression": f"SET {sets} ADD #views :one",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    if budget:
        request["ConditionExpression"] = "attribute_not_exists(#views) OR #views < :budget"
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        values[":budget"] = {"N": str(budget)}
    try:
        ddb.update_item(**request)
    except ClientError as exc:
        if not aws.condition_failed(exc):
            raise
        held = exc.response.get("Item", {}).get("target", {}).get("S")
        return Followed(within_budget=False, held_target=held if isinstance(held, str) else None)
    return Followed(within_budget=True)


def drop_reader(ddb: Any, table: str, target: str, connection_id: str) -> None:
    """Take back a reader item put beside a view that was then refused (views budget), so a
    connection past its budget cannot make itself a reader of every post it names."""
    ddb.delete_item(TableName=table, Key=follower_key(target, connection_id, reading=True))


def add_reader(ddb: Any, table: str, target: str, connection_id: str, expiry: int) -> None:
    """Record the reader at once, so the next view's reply counts it; the fan-out would make
    the same item from the stream one interval later (and removes the old target's)."""
    ddb.put_item(
        TableName=table,
        Item={**follower_key(target, connection_id, reading=True), TTL_ATTRIBUTE: {"N": str(expiry)}},
    )


def set_watching(
    ddb: Any, table: str, connection_id: str, targets: Iterable[str], expiry: int, reading: str | None = None
) -> None:
    """Replace the connection's watch list; an empty one stops watching. With `reading`, that
    becomes the connection's target as a view's would (follow_target), but no view is counted
    against the budget: `watch` sends no view."""
    watched = sorted(set(targets))
    names = {"#watching": "watching", "#expires": TTL_ATTRIBUTE}
    values: dict[str, Any] = {":expires": {"N": str(expiry)}}
    sets = "#expires = :expires"
    if reading is not None:
        sets += ", #target = :target"
        names["#target"] = "target"
        values[":target"] = {"S": reading}
    if watched:
        expression = f"SET #watching = :watching, {sets}"
        values[":watching"] = {"SS": watched}
    else:
        expression = f"SET {sets} REMOVE #watching"
    ddb.update_item(
        TableName=table,
        Key=connection_key(connection_id),
        UpdateExpression=expression,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def forget(ddb: Any, table: str, connection_id: str) -> None:
    """Delete the connection's item; the fan-out deletes its followers (stream REMOVE)."""
    ddb.delete_item(TableName=table, Key=connection_key(connection_id))


def readers_besides(ddb: Any, table: str, target: str, connection_id: str, now: float) -> int:
    """Open connections reading `target`, not counting `connection_id` (exact: consistent).

    The views reply adds its own connection: the fan-out records it as a reader only
    after the reply, and it may already be one (a reload of the same page).
    """
    count = 0
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :target AND begins_with(sk, :reading)",
        "FilterExpression": "sk <> :me AND #expires > :now",
        "ExpressionAttributeNames": {"#expires": TTL_ATTRIBUTE},
        "ExpressionAttributeValues": {
            ":target": {"S": target},
            ":reading": {"S": READING},
            ":me": {"S": READING + connection_id},
            ":now": {"N": str(int(now))},
        },
        "Select": "COUNT",
        "ConsistentRead": True,
    }
    while True:
        response = ddb.query(**request)
        count += int(response.get("Count", 0))
        if "LastEvaluatedKey" not in response:
            return count
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def now() -> float:
    return time.time()
