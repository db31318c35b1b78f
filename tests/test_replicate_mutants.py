"""The stream parser of replicate on malformed records: each is rejected by its sequence
number, never copied. Kills handlers/replicate.py survivors of the mutation run
(tests/MUTATION.md)."""

from __future__ import annotations

from support.events import stream_record

from handlers.replicate import StreamBatch, parse_stream_batch


def image(**counts: str) -> dict[str, dict[str, str]]:
    return {"articleId": {"S": "a-post"}, **{name: {"N": value} for name, value in counts.items()}}


def test_replicate_event_without_records_is_an_empty_batch() -> None:
    assert parse_stream_batch({}) == StreamBatch([], [])


def test_replicate_image_whose_unique_count_is_not_a_number_is_rejected() -> None:
    batch = parse_stream_batch({"Records": [stream_record(image(totalViews="3", uniqueViews="many"), "101")]})
    assert batch == StreamBatch([], ["101"])


def test_replicate_malformed_record_without_a_sequence_number_is_rejected_as_empty() -> None:
    assert parse_stream_batch({"Records": [{"dynamodb": {}}]}) == StreamBatch([], [""])
