"""Where a benchmark's view goes, decided by the handlers' own code, not a copy of it.

The views function's pure steps (handlers/classify.py, handlers/views.py) make the
event and its SNS attributes; each queue's filter policy in the wiring table says
whether SNS delivers it there; the event's target is the key its consumer writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.classify import classify, external_referrer, view_event
from handlers.pages import DEFAULT_PAGE_RULES
from handlers.schema import ViewEvent, ViewMessage
from handlers.views import message_attributes
from handlers.wiring import HAS_REFERRER_ATTRIBUTE, QueueSpec

EVENT_ID = "bench"  # the ledger's concern, not the routing's
NO_OWN_ORIGINS: frozenset[str] = frozenset()  # bench/load.py's referrers are all external


def published(message: dict[str, Any]) -> ViewEvent:
    """The event the views function publishes for a `views` message, under the default
    page rules (the local stack's). Raises as the views function refuses what it refuses."""
    view = ViewMessage.model_validate(message)
    referrer = external_referrer(view.referrer, NO_OWN_ORIGINS)
    return view_event(view, classify(view, DEFAULT_PAGE_RULES), EVENT_ID, 0, referrer)


def attributes(event: ViewEvent) -> dict[str, str]:
    """The SNS message attributes of its publish, as the recorder keeps them (name -> value)."""
    return {name: value["StringValue"] for name, value in message_attributes(event).items()}


def reaches(queue: QueueSpec, attributes: Mapping[str, str | None]) -> bool:
    """SNS's filter: every attribute the queue's policy names has one of its allowed values."""
    return all(attributes.get(name) in allowed for name, allowed in queue.filter_policy.items())


def queue_key(queue: QueueSpec, event: ViewEvent) -> str | None:
    """The key the queue's consumer writes for this event, None when SNS does not deliver it
    there: the viewed target, and for the referrer queue the referrer's origin beside it."""
    if not reaches(queue, attributes(event)):
        return None
    return f"{event.referrer} {event.target}" if HAS_REFERRER_ATTRIBUTE in queue.filter_policy else event.target
