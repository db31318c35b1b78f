"""An in-process pipeline driver on moto: the views function, real SNS->SQS fan-out with
redrive, the queue consumers, and the writer's stream into replicate, with faults
injected on a seeded RNG.

The driver plays Lambda's event source mappings: it receives a batch, invokes the
consumer, deletes what the consumer accepted and leaves what it reported (or the whole
batch when the invocation died), so a failed message comes back (VisibilityTimeout 0)
until SQS redrives it to the DLQ after maxReceiveCount deliveries. Faults are
transient: they are injected only while every message of the batch has been delivered
at most FAULTY_DELIVERIES times, so a valid view always gets clean deliveries left and
only a poison message may end in a DLQ.

Every scenario also puts copies of some messages (SNS delivered them twice: a new
message, the same eventId) at random places inside the batch being consumed, and
after each invocation checks that every message of the batch is counted or reported.
"""

from __future__ import annotations

import importlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ReadTimeoutError
from pydantic import ValidationError
from support.aws import Cloud
from support.events import sqs_event, sqs_record, ws_message
from support.faults import fail
from support.series import timed

from handlers import aws, replicate, series, views
from handlers.counter import view_increment
from handlers.ledger import KeyOf, marker_id
from handlers.referrers import referrer_increment
from handlers.schema import ViewEvent
from handlers.sqs import Delivered
from handlers.wiring import COUNTED_EVENTS, WIRING

from .messages import REFERRERS

FAULTY_DELIVERIES = 3  # of maxReceiveCount (5): the last two deliveries are clean
ARTICLES = [f"post-{i}" for i in range(8)]
PAGE_PATHS = {"/": "Home_Page", "/pages/about": "About_Page", "/pages/contacts/form": "Contact_Page"}
OWN_REFERRER = "https://blog.example.com/posts/other"  # the blog's own origin: never counted
POISON_BODIES = [
    "not json at all",
    '{"eventId": "p1", "eventType": "post_view", "unique": "maybe"}',
    '{"eventType": "post_view", "unique": true, "articleId": "post-0"}',
    json.dumps({"eventId": "p2", "eventType": "post_view", "unique": True, "articleId": "bad id with spaces"}),
]

BASE_SCENARIOS: dict[str, set[str]] = {
    "poison": set(),
    "throttling": {"throttle"},
    "server_errors": {"server_error"},
    "read_timeout_after_commit": {"read_timeout"},
    "lost_response_sdk_retry": {"sdk_retry"},
    "lambda_timeout_mid_batch": {"lambda_timeout"},
    "duplicate_delivery": {"duplicate_invocation", "duplicate_message"},
    "sns_failure": {"sns"},
    "stream_replay_with_write_faults": {"replicate_throttle", "series_throttle"},
    "everything_at_once": {
        "throttle",
        "server_error",
        "read_timeout",
        "sdk_retry",
        "lambda_timeout",
        "duplicate_invocation",
        "duplicate_message",
        "sns",
        "replicate_throttle",
        "series_throttle",
    },
}
# Copies inside a batch fire in every scenario: a copy sorted before other views must
# never end the batch early (issue 17: `continue` -> `break` in ledger.aggregate).
SCENARIOS = {name: kinds | {"in_batch_duplicate"} for name, kinds in BASE_SCENARIOS.items()}


class LambdaTimeout(Exception):
    """The function ran out of time: the invocation fails, every message comes back."""


@dataclass
class Plan:
    """Which faults may fire, and when: decided by one seeded RNG."""

    kinds: set[str]
    rng: random.Random
    rate: float = 0.25
    active: bool = False
    fired: Counter[str] = field(default_factory=Counter)

    def fire(self, kind: str) -> bool:
        if kind in self.kinds and self.active and self.rng.random() < self.rate:
            self.fired[kind] += 1
            return True
        return False


def install_faults(plan: Plan) -> None:
    """Hooks on the handlers' own boto3 clients; each asks the plan before firing."""
    ddb, sns = aws.client("dynamodb"), aws.client("sns")
    fail(ddb, "TransactWriteItems", "ProvisionedThroughputExceededException", when=lambda _: plan.fire("throttle"))
    fail(ddb, "TransactWriteItems", "InternalServerError", status=500, when=lambda _: plan.fire("server_error"))
    fail(sns, "Publish", "InternalError", status=500, when=lambda _: plan.fire("sns"))
    fail(ddb, "PutItem", "ProvisionedThroughputExceededException", when=lambda _: plan.fire("replicate_throttle"))
    # UpdateItem is the series consumers' write only (the counters transact, replicate puts).
    fail(ddb, "UpdateItem", "ProvisionedThroughputExceededException", when=lambda _: plan.fire("series_throttle"))

    def after_commit(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if http_response.status_code != 200:
            return
        if plan.fire("read_timeout"):  # committed, but the reply never arrives
            raise ReadTimeoutError(endpoint_url="https://dynamodb.fault.invalid")
        if plan.fire("lambda_timeout"):  # committed, then the function is killed
            raise LambdaTimeout

    ddb.meta.events.register("after-call.dynamodb.TransactWriteItems", after_commit)

    def lost_reply(attempts: int, response: Any, **_: Any) -> float | None:
        ok = response is not None and response[0].status_code == 200
        return 0.0 if ok and attempts == 1 and plan.fire("sdk_retry") else None

    ddb.meta.events.register("needs-retry.dynamodb.TransactWriteItems", lost_reply)


@dataclass
class Accepted:
    posts: Counter[tuple[str, str]] = field(default_factory=Counter)
    pages: Counter[tuple[str, str]] = field(default_factory=Counter)
    referrers: Counter[tuple[str, str]] = field(default_factory=Counter)
    event_ids: set[str] = field(default_factory=set)
    referred_event_ids: set[str] = field(default_factory=set)
    unavailable_event_ids: set[str] = field(default_factory=set)


def random_view(rng: random.Random) -> dict[str, Any]:
    view: dict[str, Any] = {"message": "views", "refreshed": rng.random() < 0.3}
    if rng.random() < 0.7:
        view["articleId"] = rng.choice(ARTICLES)
        view["articleTitle"] = view["articleId"].title()
    else:
        view["currentPage"] = rng.choice(sorted(PAGE_PATHS))
    if rng.random() < 0.3:
        view["referrer"] = rng.choice([*sorted(REFERRERS), OWN_REFERRER])
    return view


def publish_views(count: int, rng: random.Random, plan: Plan) -> Accepted:
    """Every view through the views function; only those answered ok are accepted."""
    accepted = Accepted()
    plan.active = True
    for i in range(count):
        view, event_id = random_view(rng), f"view-{i:06d}"
        reply = json.loads(views.handler(ws_message(view, message_id=event_id), None)["body"])
        if reply.get("error") == "unavailable":
            accepted.unavailable_event_ids.add(event_id)
            continue
        assert reply.get("status") == "ok", reply
        accepted.event_ids.add(event_id)
        unique = 0 if view["refreshed"] else 1
        if "articleId" in view:
            accepted.posts[(view["articleId"], "total")] += 1
            accepted.posts[(view["articleId"], "unique")] += unique
            target = f"post:{view['articleId']}"
        else:
            page = PAGE_PATHS[view["currentPage"]]
            accepted.pages[(page, "total")] += 1
            accepted.pages[(page, "unique")] += unique
            target = f"page:{page}"
        if view.get("referrer") in REFERRERS:
            accepted.referrers[(REFERRERS[view["referrer"]], target)] += 1
            accepted.referred_event_ids.add(event_id)
    plan.active = False
    return accepted


@dataclass
class Delivery:
    body: str
    deleted: bool = False
    failures: int = 0


@dataclass
class Drained:
    messages: dict[str, Delivery] = field(default_factory=dict)
    """Every SQS message the driver saw, by messageId."""
    poison_ids: set[str] = field(default_factory=set)
    invocations: int = 0
    in_batch_copies: int = 0
    unaccounted: list[str] = field(default_factory=list)
    """Messages an invocation neither counted nor reported (must stay empty)."""


def send_poison(cloud: Cloud, drained: Drained) -> None:
    for queue in ("post_view", "referrer"):
        for body in POISON_BODIES:
            message_id = cloud.sqs.send_message(QueueUrl=cloud.queue_urls[queue], MessageBody=body)["MessageId"]
            drained.poison_ids.add(message_id)


def invoke(handler: Any, event: dict[str, Any], ids: list[str]) -> set[str]:
    """The messageIds to leave in the queue after one invocation."""
    try:
        return {f["itemIdentifier"] for f in handler(event, None)["batchItemFailures"]}
    except LambdaTimeout:
        return set(ids)


def insert_copies(records: list[dict[str, Any]], rng: random.Random, drained: Drained) -> list[dict[str, Any]]:
    """The batch with copies (new messageId, same body) of up to three of its messages,
    each at a random position: SNS delivered those twice and both landed in this batch."""
    batch = list(records)
    for original in rng.sample(records, rng.randint(1, min(3, len(records)))):
        drained.in_batch_copies += 1
        batch.insert(rng.randrange(len(batch) + 1), sqs_record(original["body"], f"copy-{drained.in_batch_copies}"))
    return batch


def counted_or_reported(cloud: Cloud, queue: str, records: list[dict[str, Any]], failed: set[str]) -> list[str]:
    """The messageIds of the batch that were neither reported nor counted. A message not
    reported is deleted by SQS, so its view must have its marker by now, or have nothing
    to count, or share its eventId with a reported message of the batch (which comes back)."""
    key_of: KeyOf = referrer_increment if queue == "referrer" else view_increment
    purpose = "referrer" if queue == "referrer" else "views"
    events: dict[str, ViewEvent | None] = {}
    for record in records:
        try:
            events[record["messageId"]] = ViewEvent.model_validate_json(record["body"])
        except ValidationError:
            events[record["messageId"]] = None
    retried = {e.eventId for m, e in events.items() if m in failed and e is not None}
    missing: list[str] = []
    for message_id, event in events.items():
        if message_id in failed:
            continue
        if event is None:
            missing.append(message_id)  # poison must be reported
            continue
        if event.eventId in retried or key_of(Delivered(message_id, event)) is None:
            continue
        marker = marker_id(purpose, event.eventId)
        item = cloud.ddb.get_item(
            TableName=cloud.table(COUNTED_EVENTS), Key={"markerId": {"S": marker}}, ConsistentRead=True
        )
        if "Item" not in item:
            missing.append(message_id)
    return missing


def consume(cloud: Cloud, queue: str, handler: Any, records: list[dict[str, Any]], drained: Drained) -> set[str]:
    """One invocation, checked: every message of the batch counted or reported."""
    failed = invoke(handler, sqs_event(records), [r["messageId"] for r in records])
    drained.invocations += 1
    drained.unaccounted += counted_or_reported(cloud, queue, records, failed)
    return failed


def resend_reported_copies(
    cloud: Cloud, url: str, records: list[dict[str, Any]], failed: set[str], drained: Drained
) -> None:
    """A copy inside a batch is an SQS message too: reported, it comes back."""
    poison = {r["body"] for r in records if r["messageId"] in drained.poison_ids}
    for record in records:
        if record["messageId"].startswith("copy-") and record["messageId"] in failed:
            resent = cloud.sqs.send_message(QueueUrl=url, MessageBody=record["body"])["MessageId"]
            if record["body"] in poison:
                drained.poison_ids.add(resent)  # a copy of a poison message is poison too


def drain(cloud: Cloud, plan: Plan, rng: random.Random, drained: Drained, max_rounds: int = 10_000) -> None:
    consumers = {q.name: importlib.import_module(WIRING.function(q.function).module).handler for q in WIRING.queues}
    for _ in range(max_rounds):
        busy = False
        for queue, handler in consumers.items():
            url = cloud.queue_urls[queue]
            messages = cloud.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
            ).get("Messages", [])
            if not messages:
                continue
            busy = True
            records = [sqs_record(m["Body"], m["MessageId"]) for m in messages]
            for record, message in zip(records, messages, strict=True):
                record["attributes"]["ApproximateReceiveCount"] = message["Attributes"]["ApproximateReceiveCount"]
                drained.messages.setdefault(message["MessageId"], Delivery(message["Body"]))
            plan.active = all(int(m["Attributes"]["ApproximateReceiveCount"]) <= FAULTY_DELIVERIES for m in messages)
            if plan.fire("duplicate_message"):  # SNS delivered one of them twice: a new message, same eventId
                copy = rng.choice(messages)
                copy_id = cloud.sqs.send_message(QueueUrl=url, MessageBody=copy["Body"])["MessageId"]
                if copy["MessageId"] in drained.poison_ids:
                    drained.poison_ids.add(copy_id)  # a copy of a poison message is poison too
            if plan.fire("in_batch_duplicate"):
                records = insert_copies(records, rng, drained)
            failed = consume(cloud, queue, handler, records, drained)
            if plan.fire("duplicate_invocation"):  # the same batch delivered twice: either success deletes
                failed &= consume(cloud, queue, handler, records, drained)
            plan.active = False
            resend_reported_copies(cloud, url, records, failed, drained)
            for message in messages:
                delivery = drained.messages[message["MessageId"]]
                if message["MessageId"] in failed:
                    delivery.failures += 1
                else:
                    delivery.deleted = True
                    cloud.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if not busy:
            return
    raise AssertionError(f"the queues did not drain in {max_rounds} rounds")


def dlq_message_ids(cloud: Cloud) -> set[str]:
    found: set[str] = set()
    for url in cloud.dlq_urls.values():
        while True:
            messages = cloud.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)
            if not messages.get("Messages"):
                break
            found |= {m["MessageId"] for m in messages["Messages"]}
    return found


def stream_records(cloud: Cloud) -> list[dict[str, Any]]:
    """Every record the writer's stream holds, in AWS's shape."""
    return cloud.stream("PostCountWriter").records


def replay_stream(
    records: list[dict[str, Any]], plan: Plan, rng: random.Random, handler: Any = replicate.handler
) -> int:
    """The stream delivered at least once and out of order, in batches, retried until accepted."""
    replayed = records + rng.sample(records, len(records) // 2)
    rng.shuffle(replayed)
    invocations = 0
    for start in range(0, len(replayed), 7):
        batch = replayed[start : start + 7]
        for _ in range(20):
            plan.active = True
            response = handler({"Records": batch}, None)
            plan.active = False
            invocations += 1
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            if not failed:
                break
            batch = [r for r in batch if r["dynamodb"]["SequenceNumber"] in failed]  # Lambda bisects; we narrow
        else:
            raise AssertionError("a stream batch never succeeded")
    return invocations


def replay_series_streams(cloud: Cloud, plan: Plan, rng: random.Random) -> int:
    """Each series consumer's stream, committed ten minutes apart (so a key spans hours and
    days), delivered at least once and out of order under the plan's faults."""
    invocations = 0
    for spec in WIRING.streams:
        if spec.function.startswith("series-"):
            records = timed(cloud.stream(spec.table).records, step=600)
            invocations += replay_stream(records, plan, rng, series.handler)
    return invocations
