"""The markers' names are stored state: a new deployment must find the markers the last
one wrote, or it counts their events again. Kills the handlers/referrers.py survivor of
the mutation run (the purpose passed to the ledger; tests/MUTATION.md)."""

from __future__ import annotations

from support.aws import Cloud
from support.events import sqs_event, sqs_record, view_event

from handlers import counter, referrers
from handlers.wiring import COUNTED_EVENTS


def test_referrers_and_views_write_markers_named_by_purpose_and_event_id(cloud: Cloud) -> None:
    body = view_event(event_id="e-1", referrer="https://a.example")
    counter.handler(sqs_event([sqs_record(body)]), None)
    referrers.handler(sqs_event([sqs_record(body)]), None)
    markers = sorted(i["markerId"]["S"] for i in cloud.items(COUNTED_EVENTS))
    assert markers == ["referrer#e-1", "views#e-1"]
