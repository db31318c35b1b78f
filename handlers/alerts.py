"""Alerts: one e-mail when a post or page reaches the stack's views-per-hour threshold.

Run by the series consumers right after a post's or page's hourly snapshot is written
(handlers/series.py). The hour's views are the snapshot minus the key's previous snapshot
(a consistent Query: the previous hour was written by an earlier batch of the same shard).
When they reach the threshold, an `alert#<target>` / `<hour>` item is claimed with a
conditional Put; only the claimant publishes, so a replayed, redelivered or reordered record
finds the claim and sends nothing. A failed publish releases the claim and reports the
records, so the stream's retry sends it: exactly once, unless SNS took a publish whose answer
was lost (then the retry sends a second e-mail rather than none).

The message names the target, its views in the hour so far, and the hour's top referrer
from the `refh#<target>` items (its views within the hour: views - base), as far as the
referrers' consumer has written them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from handlers import aws
from handlers.attributes import number, text
from handlers.log import log

ALERTING_PREFIXES = ("post#", "page#")
MAX_SUBJECT = 99  # SNS: under 100 characters, printable ASCII, no line breaks
MAX_REFERRER_PAGES = 10


class Rule(NamedTuple):
    stack: str
    topic_arn: str
    views_per_hour: int


class TopReferrer(NamedTuple):
    origin: str
    views: int


def previous_total(ddb: Any, table: str, series_key: str, bucket: str) -> int:
    """The key's latest snapshot before this hour (0 before its first)."""
    response = ddb.query(
        TableName=table,
        KeyConditionExpression="seriesKey = :k AND #b < :b",
        ExpressionAttributeNames={"#b": "bucket"},
        ExpressionAttributeValues={":k": {"S": series_key}, ":b": {"S": bucket}},
        ScanIndexForward=False,
        Limit=1,
        ConsistentRead=True,
    )
    items = response.get("Items", [])
    return number(items[0], "totalViews") if items else 0


def top_of(items: list[Mapping[str, Mapping[str, Any]]], hour: str) -> TopReferrer | None:
    """Pure: the origin with the most views within the hour (ties: the first origin by name)."""
    best: TopReferrer | None = None
    for item in items:
        origin = text(item, "bucket").removeprefix(f"{hour}#")
        views = number(item, "views") - number(item, "base")
        if views > 0 and (best is None or views > best.views or (views == best.views and origin < best.origin)):
            best = TopReferrer(origin, views)
    return best


def top_referrer(ddb: Any, table: str, series_key: str, hour: str) -> TopReferrer | None:
    items: list[Mapping[str, Mapping[str, Any]]] = []
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "seriesKey = :k AND begins_with(#b, :h)",
        "ExpressionAttributeNames": {"#b": "bucket"},
        "ExpressionAttributeValues": {":k": {"S": f"refh#{series_key}"}, ":h": {"S": f"{hour}#"}},
    }
    for _ in range(MAX_REFERRER_PAGES):
        page = ddb.query(**request)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return top_of(items, hour)


def _ascii(value: str) -> str:
    return "".join(c if " " <= c <= "~" else "?" for c in value)


def message(rule: Rule, series_key: str, hour: str, views: int, top: TopReferrer | None) -> tuple[str, str]:
    """Pure: (subject, body) of the alert e-mail."""
    kind, _, name = series_key.partition("#")
    what = f"{'Post' if kind == 'post' else 'Page'} {name}"
    day, _, hh = hour.partition("T")
    subject = _ascii(f"{views} views in an hour: {what}")
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 3] + "..."
    referrer = f"{top.origin} ({top.views} views this hour)" if top else "none recorded"
    body = "\n".join(
        [
            f"{what} reached {views} views between {hh}:00 and {hh}:59 UTC on {day}"
            f" (alert threshold: {rule.views_per_hour} views per hour).",
            f"Top referrer this hour: {referrer}.",
            f"Stack: {rule.stack}. One alert per post or page and hour; details: python -m report --stack {rule.stack}",
        ]
    )
    return subject, body


def claim(ddb: Any, table: str, series_key: str, hour: str, views: int) -> bool:
    """True for the one caller that may send this hour's alert."""
    return aws.written(
        ddb.put_item,
        TableName=table,
        Item={"seriesKey": {"S": f"alert#{series_key}"}, "bucket": {"S": hour}, "views": {"N": str(views)}},
        ConditionExpression="attribute_not_exists(seriesKey)",
    )


def release(ddb: Any, table: str, series_key: str, hour: str) -> None:
    ddb.delete_item(TableName=table, Key={"seriesKey": {"S": f"alert#{series_key}"}, "bucket": {"S": hour}})


def check(ddb: Any, sns: Any, table: str, rule: Rule, series_key: str, hour: str, total: int) -> bool:
    """Send the hour's alert if this snapshot reaches the threshold and nobody sent it yet.

    False when the records must be retried (the alert is due but could not be sent)."""
    if total < rule.views_per_hour:
        return True  # the hour's views are at most the all-time total: no read needed
    try:
        views = total - previous_total(ddb, table, series_key, hour)
        if views < rule.views_per_hour or not claim(ddb, table, series_key, hour, views):
            return True
    except (ClientError, BotoCoreError) as exc:
        log("error", "alert_check_failed", error=type(exc).__name__)
        return False
    try:
        subject, body = message(rule, series_key, hour, views, top_referrer(ddb, table, series_key, hour))
        sns.publish(TopicArn=rule.topic_arn, Subject=subject, Message=body)
    except (ClientError, BotoCoreError) as exc:
        log("error", "alert_publish_failed", error=type(exc).__name__)
        try:
            release(ddb, table, series_key, hour)
        except (ClientError, BotoCoreError) as again:
            log("error", "alert_lost", error=type(again).__name__)
            return True  # the claim stays: a retry could not send it either
        return False
    log("info", "alert_sent", views=views, threshold=rule.views_per_hour)
    return True
