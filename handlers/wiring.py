"""The one description of how the system is assembled.

Pure data, read by three consumers so they cannot drift apart:
- `components/` (Pulumi) builds the AWS resources and IAM grants from it,
- `local/` builds the moto resources and routes frames and polls queues from it,
- `tests/` create their moto tables and queues from it.

Nothing here imports boto3 or pulumi; handler code never reads this module at run
time except for table names and event types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
ENV_ENDPOINT_URL = "AWS_ENDPOINT_URL"


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table; its physical name is `<stack>-<name>`."""

    name: str
    hash_key: str
    range_key: str | None = None
    stream: bool = False
    """Stream NEW_IMAGE records to the stream consumer named in STREAMS."""
    ttl_attribute: str | None = None
    """Epoch-seconds attribute after which DynamoDB deletes the item (free)."""


@dataclass(frozen=True)
class TableGrant:
    """DynamoDB actions a function performs on one table (least privilege)."""

    table: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class FunctionSpec:
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
    reply_calls: int = 0
    """Sequential AWS calls, at most, before the function replies to a WebSocket frame; its
    timeout must cover their worst case (handlers.aws.worst_case_seconds) and the reply."""


@dataclass(frozen=True)
class RouteSpec:
    """A WebSocket route of the API Gateway (and of the local gateway)."""

    route_key: str
    function: str
    replies: bool = True
    """The function's return body is sent back as the route response."""


@dataclass(frozen=True)
class QueueSpec:
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


@dataclass(frozen=True)
class RepairSpec:
    """The consumer of a stream mapping's on-failure queue.

    When the mapping gives up on a batch (retries exhausted, or records older than the
    maximum age) Lambda skips it and sends its metadata (shard, sequence-number range),
    not its records, to the queue; this function repairs what the batch would have done.
    """

    function: str
    batch_size: int = 10
    max_receive_count: int = 5
    """Deliveries before a failure message moves to the queue's own DLQ."""


@dataclass(frozen=True)
class StreamSpec:
    """A DynamoDB stream feeding a function."""

    table: str
    function: str
    batch_size: int = 100
    maximum_retry_attempts: int = 5
    maximum_record_age_seconds: int = 3600
    repair: RepairSpec | None = None
    """Who consumes the on-failure queue; None leaves failures there for an operator."""

    @property
    def failure_queue(self) -> str:
        """The on-failure queue's name after the stack prefix (`<prefix>-<name>`)."""
        return f"{self.function}-failures"


@dataclass(frozen=True)
class Wiring:
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

_COUNT_WRITE = ("dynamodb:UpdateItem",)
_MARKER_WRITE = ("dynamodb:PutItem",)


def _counter(name: str, table: str, module: str = "handlers.counter") -> FunctionSpec:
    return FunctionSpec(
        name=name,
        module=module,
        tables=(TableGrant(table, _COUNT_WRITE), TableGrant(COUNTED_EVENTS, _MARKER_WRITE)),
        timeout_seconds=30,
    )


WIRING = Wiring(
    tables=(
        TableSpec(HOME_AND_PROFILE, hash_key="pageName"),
        TableSpec(POST_COUNT_WRITER, hash_key="articleId", stream=True),
        TableSpec(POST_COUNT_READER, hash_key="articleId"),
        TableSpec(REFERRER, hash_key="referrer", range_key="target"),
        TableSpec(COUNTED_EVENTS, hash_key="markerId", ttl_attribute="expiresAt"),
        TableSpec(TOP_POSTS, hash_key="listId"),
    ),
    functions=(
        FunctionSpec("connect", "handlers.connect", env=(ENV_ALLOWED_ORIGINS,)),
        FunctionSpec("disconnect", "handlers.disconnect"),
        FunctionSpec("default", "handlers.default"),
        FunctionSpec(
            "views",
            "handlers.views",
            env=(ENV_TOPIC_ARN, ENV_ALLOWED_ORIGINS, ENV_PAGE_RULES, ENV_REFERRER_SPAM, ENV_POST_SECRETS),
            tables=(
                TableGrant(POST_COUNT_READER, ("dynamodb:GetItem",)),
                TableGrant(HOME_AND_PROFILE, ("dynamodb:GetItem",)),
            ),
            publishes=True,
            # A read, then a publish; 25 s leaves API Gateway's 29 s for a cold start.
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
    ),
    routes=(
        RouteSpec("$connect", "connect", replies=False),
        RouteSpec("$disconnect", "disconnect", replies=False),
        RouteSpec("$default", "default"),
        RouteSpec("views", "views"),
        RouteSpec("stats", "stats"),
    ),
    queues=(
        QueueSpec("homepage_view", {EVENT_TYPE_ATTRIBUTE: ["homepage_view"]}, "homepage-counter"),
        QueueSpec("profile_view", {EVENT_TYPE_ATTRIBUTE: ["profile_view"]}, "profile-counter"),
        QueueSpec("post_view", {EVENT_TYPE_ATTRIBUTE: ["post_view"]}, "post-counter"),
        # A fourth queue for external referrers: only views that carry one are
        # delivered here, so the views function stays one publish per view.
        QueueSpec("referrer", {HAS_REFERRER_ATTRIBUTE: ["true"]}, "referrer-counter"),
    ),
    streams=(StreamSpec(POST_COUNT_WRITER, "replicate", repair=RepairSpec("replicate-repair")),),
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
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    return request
