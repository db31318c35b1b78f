"""The SQS envelope parser on records Lambda never sends but a hostile or redriven event
might: nothing raises, and a record without a messageId is reported as "" (so the
partial-failure reply stays well formed). Kills handlers/sqs.py survivors (tests/MUTATION.md)."""

from __future__ import annotations

import json

from support.events import view_event

from handlers.sqs import SqsBatch, parse_sqs_batch


def test_sqs_event_without_records_is_an_empty_batch() -> None:
    assert parse_sqs_batch({}) == SqsBatch([], [])


def test_sqs_record_without_message_id_or_body_is_rejected_as_empty_id() -> None:
    batch = parse_sqs_batch({"Records": [{"body": "not json"}, {"messageId": "m2"}]})
    assert batch == SqsBatch([], ["", "m2"])


def test_sqs_valid_record_without_message_id_keeps_an_empty_id() -> None:
    [delivered] = parse_sqs_batch({"Records": [{"body": json.dumps(view_event(event_id="e1"))}]}).events
    assert delivered.message_id == "" and delivered.event.eventId == "e1"
