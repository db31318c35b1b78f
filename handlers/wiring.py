"""The one description of how the system is assembled.

Pure data, read by three consumers so they cannot drift apart:
- `components/` (Pulumi) builds the AWS resources and IAM grants from it,
- `local/` builds the moto resources and routes frames and polls queues from it,
- `tests/` create their moto tables and queues from it.

Nothing here imports boto3 or pulumi; handler code never reads this module at run
time except for table names and event types.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

EventType = Literal["homepage_view", "post_view", "profile_view"]
EVENT_TYPES: tuple[EventType, ...] = ("homepage_view", "post_view", "profile_view")

# SNS message attributes set by the views function and matched by the subscriptions.
EVENT_TYPE_ATTRIBUTE = "event_type"
HAS_REFERRER_ATTRIBUTE = "has_referrer"

# Environment variables the handlers read (handlers/settings.py) and the deployers set.
ENV_STACK = "STACK"
ENV_TOPIC_ARN = "TOPIC_ARN"
ENV_ALLOWED_ORIGINS = "ALLOWED_ORIGINS"
ENV_PAGE_RULES = "PAGE_RULES"
ENV_REFERRER_SPAM = "REFERRER_SPAM"
ENV_POST_SECRETS = "POST_SIGNING_SECRETS"
ENV_VIEWS_PER_CONNECTION = "VIEWS_PER_CONNECTION"
"""viewsPerConnection: views one connection may send before `rate_limited`; 0 or unset: no budget."""
ENV_ENDPOINT_URL = "AWS_ENDPOINT_URL"
ENV_ALERT_TOPIC_ARN = "ALERT_TOPIC_ARN"
"""The owner's alert topic; empty when the stack has no alert address (no alerts)."""
ENV_ALERT_VIEWS_PER_HOUR = "ALERT_VIEWS_PER_HOUR"
"""Views of one post or page within an hour that send an alert; 0 sends none."""
ENV_CONNECTIONS_ENDPOINT = "CONNECTIONS_ENDPOINT"
"""The management API that pushes to open connections (`@connections`):
`https://<api-id>.execute-api.<region>.amazonaws.com/<stage>` on AWS, the gateway locally."""
ENV_LIVE_INTERVAL = "LIVE_INTERVAL_SECONDS"
"""The stack's liveIntervalSeconds; 0 turns live counts off (with_live_interval)."""


class TableSpec(NamedTuple):
    """A DynamoDB table; its physical name is `<stack>-<name>`."""

    name: str
    hash_key: str
    range_key: str | None = None
    stream: bool = False
    """Stream records (of stream_view) to the stream consumers named in STREAMS."""
    ttl_attribute: str | None = None
    """Epoch-seconds attribute after which DynamoDB deletes the item (free)."""
    stream_view: str = "NEW_IMAGE"
    """The stream's view type when `stream` is on. NEW_AND_OLD_IMAGES when a reader needs
    what the item was before the change: the series consumer needs the Referrer count
    before the update, and Connections' REMOVE carries only the old image, which says what
    the connection followed."""


class TableGrant(NamedTuple):
    """DynamoDB actions a function performs on one table (least privilege)."""

    table: str
    actions: tuple[str, ...]


class FunctionSpec(NamedTuple):
    """One Lambda function: its handler and exactly what it touches."""

    name: str
    module: str
    """Dotted module path; the Lambda handler is `<module>.handler`."""
    env: tuple[str, ...] = ()
    """Environment variables from ENV_* that this function needs besides ENV_STACK."""
    tables: tuple[TableGrant, ...] = ()
    publishes: bool = False
    """Publishes to the view-event topic (sns:Publish on that topic only)."""
    timeout_seconds: int = 10
    memory_mb: int = 256
    alerts: bool = False
    """Publishes to the owner's alert topic (sns:Publish on it only, when the stack has one)."""
    reply_calls: int = 0
    """Sequential AWS calls, at most, before the function replies to a WebSocket frame; its
    timeout must cover their worst case (handlers.aws.worst_case_seconds) and the reply.
    Calls made together (handlers.aws.concurrently) count once: they wait side by side."""
    manages_connections: bool = False
    """Pushes to open connections (execute-api:ManageConnections on this stage's @connections)."""


class RouteSpec(NamedTuple):
    """A WebSocket route of the API Gateway (and of the local gateway)."""

    route_key: str
    function: str
    replies: bool = True
    """The function's return body is sent back as the route response."""


class QueueSpec(NamedTuple):
    """An SQS queue subscribed to the topic with a filter, drained by a function."""

    name: str
    filter_policy: dict[str, list[str]]
    function: str
    batch_size: int = 10
    max_batching_window_seconds: int = 0
    """Seconds to gather a batch. 0: count as soon as a view arrives (a poll still takes
    up to batch_size waiting messages); raise it to trade freshness for fewer writes."""
    max_receive_count: int = 5
    """Deliveries before a message moves to the queue's dead-letter queue."""


class RepairSpec(NamedTuple):
    """The consumer of a stream mapping's on-failure queue.

    When the mapping gives up on a batch (retries exhausted, or records older than the
    maximum age) Lambda skips it and sends its metadata (shard, sequence-number range),
    not its records, to the queue; this function repairs what the batch would have done.
    """

    function: str
    batch_size: int = 10
    max_receive_count: int = 5
    """Deliveries before a failure message moves to the queue's own DLQ."""


class StreamSpec(NamedTuple):
    """A DynamoDB stream feeding a function."""

    table: str
    function: str
    batch_size: int = 100
    maximum_retry_attempts: int = 5
    maximum_record_age_seconds: int = 3600
    repair: RepairSpec | None = None
    """Who consumes the on-failure queue; None leaves failures there for an operator."""
    maximum_batching_window_seconds: int = 0
    """Seconds Lambda gathers records before invoking (0..300): fewer, larger batches
    (fewer Series writes; coalesced pushes)."""

    @property
    def failure_queue(self) -> str:
        """The on-failure queue's name after the stack prefix (`<prefix>-<name>`)."""
        return f"{self.function}-failures"


class Wiring(NamedTuple):
    tables: tuple[TableSpec, ...]
    functions: tuple[FunctionSpec, ...]
    routes: tuple[RouteSpec, ...]
    queues: tuple[QueueSpec, ...]
    streams: tuple[StreamSpec, ...]
    route_selection_expression: str = "$request.body.message"

    def table(self, name: str) -> TableSpec:
        return next(t for t in self.tables if t.name == name)

    def function(self, name: str) -> FunctionSpec:
        return next(f for f in self.functions if f.name == name)

    def route(self, route_key: str) -> RouteSpec | None:
        return next((r for r in self.routes if r.route_key == route_key), None)

    @property
    def message_routes(self) -> tuple[str, ...]:
        """The route keys a client names in `message` (API Gateway's own begin with `$`)."""
        return tuple(r.route_key for r in self.routes if not r.route_key.startswith("$"))


# Table names (logical). Physical name: f"{stack}-{NAME}".
HOME_AND_PROFILE = "HomeAndProfile"
POST_COUNT_WRITER = "PostCountWriter"
POST_COUNT_READER = "PostCountReader"
REFERRER = "Referrer"
COUNTED_EVENTS = "CountedEvents"
"""Exactly-once ledger: one marker per (consumer, eventId), expired by TTL."""
TOP_POSTS = "TopPosts"
"""One bounded item: the most viewed posts, kept by replicate (handlers/top_posts.py)."""
SERIES = "Series"
"""Hourly and daily snapshots of the counts, kept by the series consumers (handlers/series.py)."""
CONNECTIONS = "Connections"
"""Open connections and what they follow, only while open (handlers/connections.py)."""
LIVE_FUNCTIONS = ("live-posts", "live-pages", "live-connections")
"""The live fan-out (handlers/live.py), one function per stream it reads: a role covers one
stream, and each stream keeps its own retries and on-failure queue."""

DISCONNECT_ROUTE = "$disconnect"
"""Only live counts need to hear of a connection's end (handlers/disconnect.py)."""

DEFAULT_LIVE_INTERVAL_SECONDS = 2
"""liveIntervalSeconds when a stack sets none: a push per target at most every 2 s."""
MIN_RECORD_AGE_SECONDS = 60
"""Lambda's smallest maximum record age: a push older than a minute is not worth sending."""
MAX_LIVE_INTERVAL_SECONDS = 300
"""A stream mapping's batching window is at most 300 s."""

_COUNT_WRITE = ("dynamodb:UpdateItem",)
_MARKER_WRITE = ("dynamodb:PutItem",)


# The series consumers: one function per stream (a role covers one stream, and each
# stream's on-failure queue is named after its function), all running handlers.series.
# Posts and pages may alert the owner: they read back the previous hour's snapshot and
# the hour's referrers (Query), claim an alert once (PutItem) and release a claim whose
# publish failed (DeleteItem).
SERIES_POSTS = "series-posts"
SERIES_PAGES = "series-pages"
SERIES_REFERRERS = "series-referrers"
_SERIES_ALERTING = ("dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem")
SERIES_BATCHING_WINDOW_SECONDS = 10
"""The series mappings gather records this long: a post's views within it cost one write
(bench: the Series write units per view). Only the report and alerts wait for it; the hour
a view belongs to is its record's, not the batch's."""


def _series(name: str, alerting: bool) -> FunctionSpec:
    return FunctionSpec(
        name=name,
        module="handlers.series",
        # The referrers' consumer keeps hourly referrer items only when alerts are on.
        env=(ENV_ALERT_TOPIC_ARN, ENV_ALERT_VIEWS_PER_HOUR) if alerting else (ENV_ALERT_VIEWS_PER_HOUR,),
        tables=(TableGrant(SERIES, _SERIES_ALERTING if alerting else ("dynamodb:UpdateItem",)),),
        alerts=alerting,
        timeout_seconds=30,
    )


def _live(name: str) -> FunctionSpec:
    """A live fan-out function (handlers/live.py): every one may keep memberships, push and
    forget gone connections; which stream it reads is the only difference."""
    return FunctionSpec(
        name,
        "handlers.live",
        env=(ENV_CONNECTIONS_ENDPOINT, ENV_LIVE_INTERVAL),
        tables=(
            TableGrant(
                CONNECTIONS,
                (
                    "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:PutItem",
                    "dynamodb:Query",
                ),
            ),
            TableGrant(POST_COUNT_READER, ("dynamodb:GetItem",)),
            TableGrant(HOME_AND_PROFILE, ("dynamodb:GetItem",)),
        ),
        manages_connections=True,
        timeout_seconds=60,
    )


def _counter(name: str, table: str, module: str = "handlers.counter") -> FunctionSpec:
    return FunctionSpec(
        name=name,
        module=module,
        tables=(TableGrant(table, _COUNT_WRITE), TableGrant(COUNTED_EVENTS, _MARKER_WRITE)),
        timeout_seconds=30,
    )


WIRING = Wiring(
    tables=(
        TableSpec(HOME_AND_PROFILE, hash_key="pageName", stream=True),
        TableSpec(POST_COUNT_WRITER, hash_key="articleId", stream=True),
        TableSpec(POST_COUNT_READER, hash_key="articleId", stream=True),
        TableSpec(REFERRER, hash_key="referrer", range_key="target", stream=True, stream_view="NEW_AND_OLD_IMAGES"),
        TableSpec(COUNTED_EVENTS, hash_key="markerId", ttl_attribute="expiresAt"),
        TableSpec(TOP_POSTS, hash_key="listId"),
        TableSpec(SERIES, hash_key="seriesKey", range_key="bucket"),
        # Key design in handlers/connections.py; expiresAt is past API Gateway's 2-hour limit.
        TableSpec(
            CONNECTIONS,
            hash_key="pk",
            range_key="sk",
            stream=True,
            stream_view="NEW_AND_OLD_IMAGES",
            ttl_attribute="expiresAt",
        ),
    ),
    functions=(
        FunctionSpec("connect", "handlers.connect", env=(ENV_ALLOWED_ORIGINS,)),
        # Deletes the connection's record; the fan-out deletes what it followed (stream).
        FunctionSpec("disconnect", "handlers.disconnect", tables=(TableGrant(CONNECTIONS, ("dynamodb:DeleteItem",)),)),
        FunctionSpec("default", "handlers.default"),
        FunctionSpec(
            "views",
            "handlers.views",
            env=(
                ENV_TOPIC_ARN,
                ENV_ALLOWED_ORIGINS,
                ENV_PAGE_RULES,
                ENV_REFERRER_SPAM,
                ENV_POST_SECRETS,
                ENV_VIEWS_PER_CONNECTION,
                ENV_LIVE_INTERVAL,
            ),
            tables=(
                TableGrant(POST_COUNT_READER, ("dynamodb:GetItem",)),
                TableGrant(HOME_AND_PROFILE, ("dynamodb:GetItem",)),
                # The connection's target and views budget (UpdateItem), its reader item
                # (PutItem; DeleteItem takes it back when the budget refuses the view) and
                # readingNow (a Query by target).
                TableGrant(
                    CONNECTIONS, ("dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem")
                ),
            ),
            publishes=True,
            # The counts read, the target's update and readingNow's query side by side, then
            # the publish; 25 s leaves API Gateway's 29 s for a cold start.
            reply_calls=2,
            timeout_seconds=25,
        ),
        FunctionSpec(
            "stats",
            "handlers.stats",
            # The page rules name the pages it answers; every read is by key (no Scan:
            # a request's cost must not grow with the number of posts or pages stored).
            env=(ENV_PAGE_RULES,),
            tables=(
                TableGrant(POST_COUNT_READER, ("dynamodb:BatchGetItem",)),
                TableGrant(HOME_AND_PROFILE, ("dynamodb:BatchGetItem",)),
                TableGrant(TOP_POSTS, ("dynamodb:BatchGetItem",)),
            ),
            # BatchGetItem only: the top item or the listed posts with the rule pages, at most
            # 100 keys a request (stats.MAX_CALLS; unprocessed keys asked again within it).
            reply_calls=2,
            timeout_seconds=25,
        ),
        FunctionSpec(
            "watch",
            "handlers.watch",
            env=(ENV_PAGE_RULES, ENV_LIVE_INTERVAL),
            tables=(
                TableGrant(POST_COUNT_READER, ("dynamodb:BatchGetItem",)),
                TableGrant(HOME_AND_PROFILE, ("dynamodb:BatchGetItem",)),
                # The watch list (UpdateItem), and for a target named as `reading` its
                # reader item (PutItem, as a view puts it) and its readingNow (Query).
                TableGrant(
                    CONNECTIONS, ("dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem")
                ),
            ),
            # The watch list's update beside one BatchGetItem (a second for unprocessed keys).
            reply_calls=2,
            timeout_seconds=25,
        ),
        _counter("homepage-counter", HOME_AND_PROFILE),
        _counter("profile-counter", HOME_AND_PROFILE),
        _counter("post-counter", POST_COUNT_WRITER),
        _counter("referrer-counter", REFERRER, module="handlers.referrers"),
        FunctionSpec(
            "replicate",
            "handlers.replicate",
            tables=(
                TableGrant(POST_COUNT_READER, ("dynamodb:PutItem",)),
                TableGrant(TOP_POSTS, ("dynamodb:GetItem", "dynamodb:PutItem")),
            ),
            timeout_seconds=30,
        ),
        FunctionSpec(
            "replicate-repair",
            "handlers.repair",
            tables=(
                # GetItem (consistent) for the keys of a failed range; Scan only when the
                # range has left the stream (24 h) and every post is reconciled instead.
                TableGrant(POST_COUNT_WRITER, ("dynamodb:GetItem", "dynamodb:Scan")),
                TableGrant(POST_COUNT_READER, ("dynamodb:PutItem",)),
                # The repaired posts join the top posts, as replicate would have merged them.
                TableGrant(TOP_POSTS, ("dynamodb:GetItem", "dynamodb:PutItem")),
            ),
            timeout_seconds=60,
        ),
        _series(SERIES_POSTS, alerting=True),
        _series(SERIES_PAGES, alerting=True),
        _series(SERIES_REFERRERS, alerting=False),
        *(_live(name) for name in LIVE_FUNCTIONS),
    ),
    routes=(
        RouteSpec("$connect", "connect", replies=False),
        RouteSpec(DISCONNECT_ROUTE, "disconnect", replies=False),
        RouteSpec("$default", "default"),
        RouteSpec("views", "views"),
        RouteSpec("stats", "stats"),
        RouteSpec("watch", "watch"),
    ),
    queues=(
        QueueSpec("homepage_view", {EVENT_TYPE_ATTRIBUTE: ["homepage_view"]}, "homepage-counter"),
        QueueSpec("profile_view", {EVENT_TYPE_ATTRIBUTE: ["profile_view"]}, "profile-counter"),
        QueueSpec("post_view", {EVENT_TYPE_ATTRIBUTE: ["post_view"]}, "post-counter"),
        # A fourth queue for external referrers: only views that carry one are
        # delivered here, so the views function stays one publish per view.
        QueueSpec("referrer", {HAS_REFERRER_ATTRIBUTE: ["true"]}, "referrer-counter"),
    ),
    streams=(
        StreamSpec(POST_COUNT_WRITER, "replicate", repair=RepairSpec("replicate-repair")),
        # Skipped series records wait in their on-failure queues for an operator (an alarm
        # names them): a later record of the same key carries its running total anyway.
        StreamSpec(POST_COUNT_WRITER, SERIES_POSTS, maximum_batching_window_seconds=SERIES_BATCHING_WINDOW_SECONDS),
        StreamSpec(HOME_AND_PROFILE, SERIES_PAGES, maximum_batching_window_seconds=SERIES_BATCHING_WINDOW_SECONDS),
        StreamSpec(REFERRER, SERIES_REFERRERS, maximum_batching_window_seconds=SERIES_BATCHING_WINDOW_SECONDS),
        # The live fan-out; its batching window is the stack's liveIntervalSeconds
        # (with_live_interval). Nothing repairs a skipped push: the next change pushes again.
        StreamSpec(
            POST_COUNT_READER,
            "live-posts",
            maximum_record_age_seconds=MIN_RECORD_AGE_SECONDS,
            maximum_batching_window_seconds=DEFAULT_LIVE_INTERVAL_SECONDS,
        ),
        StreamSpec(
            HOME_AND_PROFILE,
            "live-pages",
            maximum_record_age_seconds=MIN_RECORD_AGE_SECONDS,
            maximum_batching_window_seconds=DEFAULT_LIVE_INTERVAL_SECONDS,
        ),
        StreamSpec(CONNECTIONS, "live-connections", maximum_batching_window_seconds=DEFAULT_LIVE_INTERVAL_SECONDS),
    ),
)


def physical_table_name(stack: str, table: str) -> str:
    """The deployed name of a logical table, e.g. `local-PostCountWriter`."""
    return f"{stack}-{table}"


# Topic, queues and functions are named after a prefix: `blog-analytics-<stack>` on AWS
# (project and stack), just the stack name (`local`) in the emulator and the tests.


def topic_name(prefix: str) -> str:
    """The view-event topic, e.g. `blog-analytics-stage-view-events`."""
    return f"{prefix}-view-events"


def queue_name(prefix: str, name: str, dlq: bool = False) -> str:
    """A queue (QueueSpec.name or StreamSpec.failure_queue) or its dead-letter queue."""
    return f"{prefix}-{name}-dlq" if dlq else f"{prefix}-{name}"


def function_name(prefix: str, name: str) -> str:
    """A deployed function (FunctionSpec.name), e.g. `blog-analytics-stage-views`."""
    return f"{prefix}-{name}"


def create_table_request(spec: TableSpec, stack: str) -> dict[str, object]:
    """CreateTable arguments for an emulator (moto in tests and the local stack).

    TTL is a separate call (UpdateTimeToLive) and is left to the caller.
    """
    keys = [(spec.hash_key, "HASH")] + ([(spec.range_key, "RANGE")] if spec.range_key else [])
    request: dict[str, object] = {
        "TableName": physical_table_name(stack, spec.name),
        "KeySchema": [{"AttributeName": name, "KeyType": kind} for name, kind in keys],
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if spec.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec.stream_view}
    return request


def with_live_interval(wiring: Wiring, seconds: int, views_budget: bool = False) -> Wiring:
    """Pure: the wiring of a stack whose liveIntervalSeconds is `seconds`.

    The live mappings gather records for that long, so a target gets at most one push per
    interval from each stream. 0 turns live counts off: no pushes and no `readingNow`, so
    nothing follows connections. The live mappings and every function left without a
    trigger are dropped, and views and watch lose the Connections actions only live counts
    use. `$disconnect` stays only for a stack with a views budget (`views_budget`): the
    budget's count is the one thing kept per connection, and only while it is open.
    """
    if not 0 <= seconds <= MAX_LIVE_INTERVAL_SECONDS:
        raise ValueError(f"liveIntervalSeconds must be 0..{MAX_LIVE_INTERVAL_SECONDS}")
    if seconds > 0:
        return wiring._replace(
            streams=tuple(
                spec._replace(maximum_batching_window_seconds=seconds) if spec.function in LIVE_FUNCTIONS else spec
                for spec in wiring.streams
            )
        )
    off = wiring._replace(
        streams=tuple(spec for spec in wiring.streams if spec.function not in LIVE_FUNCTIONS),
        routes=tuple(r for r in wiring.routes if views_budget or r.route_key != DISCONNECT_ROUTE),
        functions=tuple(_without_live_grants(f) for f in wiring.functions),
    )
    return off._replace(functions=tuple(f for f in off.functions if f.name in triggered(off)))


_LIVE_OFF_CONNECTIONS = {"views": ("dynamodb:UpdateItem",), "watch": ()}
"""With live counts off: views only counts the budget on the connection's item; watch
writes nothing and reads no readingNow."""


def _without_live_grants(spec: FunctionSpec) -> FunctionSpec:
    if spec.name not in _LIVE_OFF_CONNECTIONS:
        return spec
    actions = _LIVE_OFF_CONNECTIONS[spec.name]
    tables = tuple(
        grant._replace(actions=actions) if grant.table == CONNECTIONS else grant
        for grant in spec.tables
        if grant.table != CONNECTIONS or actions
    )
    return spec._replace(tables=tables)


def triggered(wiring: Wiring) -> frozenset[str]:
    """Pure: the functions something invokes (a route, a queue, a stream or a repair queue)."""
    return frozenset(
        [r.function for r in wiring.routes]
        + [q.function for q in wiring.queues]
        + [s.function for s in wiring.streams]
        + [s.repair.function for s in wiring.streams if s.repair is not None]
    )
