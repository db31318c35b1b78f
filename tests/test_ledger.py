"""The ledger's requests are a function of the set of events, and old events are refused."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest
from support.events import now_ms, view_event

from handlers.counter import view_increment
from handlers.ledger import (
    CONFLICT_RETRIES,
    DAY_SECONDS,
    MARKER_TTL_SECONDS,
    MAX_EVENT_AGE_SECONDS,
    TTL_MARGIN_SECONDS,
    Answer,
    Tables,
    Verdict,
    aggregate,
    count_exactly_once,
    interpret,
    too_old,
    transact_request,
)
from handlers.schema import ViewEvent
from handlers.sqs import Delivered

TABLES = Tables(counts="t-PostCountWriter", markers="t-CountedEvents")
NOW = 1_800_000_000_000


def delivered(message_id: str, **fields: Any) -> Delivered:
    return Delivered(message_id, ViewEvent.model_validate(view_event(**fields)))


class RecordingDynamoDB:
    """Stands in for the client: moto ignores ClientRequestToken, so the test reads the
    requests themselves. Every transaction succeeds."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def transact_write_items(self, **request: Any) -> dict[str, Any]:
        self.requests.append(json.dumps(request, sort_keys=True))
        return {}


def requests_for(deliveries: list[Delivered]) -> list[str]:
    ddb = RecordingDynamoDB()
    assert count_exactly_once(ddb, TABLES, "views", deliveries, view_increment, now=NOW) == []
    return ddb.requests


def test_ledger_every_delivery_order_sends_the_identical_transactions() -> None:
    deliveries = [
        delivered("m1", event_id="e-b", receivedAt=NOW - 3_000, articleTitle="First"),
        delivered("m2", event_id="e-a", receivedAt=NOW - 3_000, articleTitle="Same time, smaller id", unique=False),
        delivered("m3", event_id="e-c", receivedAt=NOW - 1_000, articleTitle="Later"),
        delivered("m4", event_id="e-d", receivedAt=NOW - 2_000, articleTitle=None),
        delivered("m5", event_id="e-e", receivedAt=NOW - 500, articleId="other", articleTitle="Other"),
        delivered("m6", event_id="e-c", receivedAt=NOW - 1_000, articleTitle="Later"),  # SNS delivered it twice
    ]
    expected = requests_for(deliveries)
    for order in itertools.permutations(deliveries):
        assert requests_for(list(order)) == expected, "a redelivery in another order changed a transaction"
    [post] = [json.loads(r) for r in expected if '"hello-world"' in r]
    assert post["TransactItems"][0]["Update"]["ExpressionAttributeValues"][":s0"] == {"S": "Same time, smaller id"}


def test_ledger_in_batch_duplicate_before_other_views_leaves_every_later_view_counted() -> None:
    """A second delivery of an eventId that sorts first must not end the batch: every
    later view is still in a write, and the copy is set apart as a duplicate."""
    first = delivered("m1", event_id="e-0", receivedAt=NOW - 9_000)
    copy = delivered("m2", event_id="e-0", receivedAt=NOW - 9_000)
    later = [delivered(f"m{i}", event_id=f"e-{i}", receivedAt=NOW - 9_000 + i) for i in range(3, 8)]
    later.append(delivered("m8", event_id="e-8", receivedAt=NOW - 100, articleId="other"))
    writes = aggregate([*later, copy, first], view_increment)
    counted = {m for w in writes for m in w.message_ids}
    # Every later view is in a write, and exactly one of the two copies (the other is
    # already counted by it, so SQS may delete it).
    assert counted - {"m1", "m2"} == {f"m{i}" for i in range(3, 9)}
    assert len(counted & {"m1", "m2"}) == 1
    assert sorted(w.adds["totalViews"] for w in writes) == [1, 6]


def test_ledger_every_delivery_is_counted_or_a_duplicate_wherever_the_copies_sit() -> None:
    rng = random.Random(17)
    for _ in range(50):
        events = [delivered(f"m{i}", event_id=f"e-{i}", receivedAt=NOW - rng.randrange(5_000)) for i in range(10)]
        copies = [Delivered(f"c{i}", d.event) for i, d in enumerate(rng.sample(events, 3))]
        batch = events + copies
        rng.shuffle(batch)
        writes = aggregate(batch, view_increment)
        counted = [m for w in writes for m in w.message_ids]
        assert len(counted) == len(set(counted)) == 10 and set(counted) <= {d.message_id for d in batch}
        counted_ids = sorted(d.event.eventId for w in writes for d in w.deliveries)
        assert counted_ids == sorted(d.event.eventId for d in events)
        assert sum(w.adds["totalViews"] for w in writes) == 10


def test_ledger_split_of_a_hot_key_does_not_depend_on_delivery_order() -> None:
    deliveries = [delivered(f"m{i}", receivedAt=NOW - i, unique=i % 3 == 0) for i in range(150)]
    expected = requests_for(deliveries)
    assert len(expected) == 2
    rng = random.Random(7)
    for _ in range(20):
        rng.shuffle(deliveries)
        assert requests_for(deliveries) == expected


def test_ledger_token_changes_with_any_parameter() -> None:
    """A view resent with the same eventId but received later (another expiresAt) is
    another request, so it gets another token instead of IdempotentParameterMismatch."""
    first = delivered("m1", event_id="same", receivedAt=NOW - 60_000)
    resent = delivered("m2", event_id="same", receivedAt=NOW)
    tokens = {
        transact_request(TABLES, "views", aggregate([d], view_increment)[0])["ClientRequestToken"]
        for d in (first, resent)
    }
    assert len(tokens) == 2


def test_ledger_marker_lifetime_exceeds_the_oldest_accepted_event_by_the_margin() -> None:
    assert MARKER_TTL_SECONDS == 60 * DAY_SECONDS
    assert MAX_EVENT_AGE_SECONDS + TTL_MARGIN_SECONDS == MARKER_TTL_SECONDS
    assert MAX_EVENT_AGE_SECONDS > 4 * 14 * DAY_SECONDS, "four full DLQ redrive cycles must still count"


@pytest.mark.parametrize(
    ("age_ms", "refused"),
    [
        (0, False),
        (MAX_EVENT_AGE_SECONDS * 1000 - 1, False),
        (MAX_EVENT_AGE_SECONDS * 1000, True),
        (MARKER_TTL_SECONDS * 1000 + 1, True),
    ],
)
def test_ledger_too_old_boundary(age_ms: int, refused: bool) -> None:
    delivery = delivered("m1", receivedAt=NOW - age_ms)
    fresh, old = too_old([delivery], NOW)
    assert (old, fresh) == (([delivery], []) if refused else ([], [delivery]))


def test_ledger_clock_is_real_time_by_default() -> None:
    """The test events are stamped now; without an explicit clock they count."""
    ddb = RecordingDynamoDB()
    event = Delivered("m1", ViewEvent.model_validate(view_event(receivedAt=now_ms())))
    assert count_exactly_once(ddb, TABLES, "views", [event], view_increment) == []
    assert len(ddb.requests) == 1


CANCELLED = "TransactionCanceledException"


@pytest.mark.parametrize(
    ("answer", "conflicts", "verdict"),
    [
        (Answer(committed=True), 0, Verdict("done")),
        (
            Answer(error=CANCELLED, reasons=("None", "ConditionalCheckFailed", "None")),
            0,
            Verdict("drop", frozenset({"m1"})),
        ),
        # A counted marker is dropped even when the conflict retries are spent.
        (
            Answer(error=CANCELLED, reasons=("None", "None", "ConditionalCheckFailed")),
            9,
            Verdict("drop", frozenset({"m2"})),
        ),
        (Answer(error=CANCELLED, reasons=("TransactionConflict", "None", "None")), 0, Verdict("retry")),
        (Answer(error=CANCELLED, reasons=("TransactionConflict",)), CONFLICT_RETRIES - 1, Verdict("retry")),
        (Answer(error=CANCELLED, reasons=("TransactionConflict",)), CONFLICT_RETRIES, Verdict("fail")),
        # The update's own failed condition is not a counted marker.
        (Answer(error=CANCELLED, reasons=("ConditionalCheckFailed", "None", "None")), 0, Verdict("retry")),
        (Answer(error="ProvisionedThroughputExceededException"), 0, Verdict("fail")),
        (Answer(error="ConnectTimeoutError", answered=False), 0, Verdict("fail")),
    ],
)
def test_ledger_interpret_answer(answer: Answer, conflicts: int, verdict: Verdict) -> None:
    assert interpret(answer, ["m1", "m2"], conflicts) == verdict
