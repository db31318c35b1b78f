"""Make moto's SQS cost what a request asks for, not the length of the queue.

moto builds a queue's whole attribute dictionary, ApproximateNumberOf* counts
included, whenever it reads a single attribute: once per SendMessage (to look up
ContentBasedDeduplication) and three times per message a ReceiveMessage returns (its
retention check). Each count walks every message in the queue with a clock read per
message. Under load a backlog forms, every request gets slower the longer it is, and
the local stack collapsed: 100 clients x 10,000 views left 3,781 messages queued and
1,417 views counted after 18 minutes. Here a queue's attributes become a mapping
that computes only the attribute looked up; the values and the set of names are
moto's own (tests/local/test_local_moto_sqs.py compares them with moto's dictionary).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from moto.core.utils import camelcase_to_underscores
from moto.sqs.models import Queue


class LazyAttributes(Mapping[str, Any]):
    """A queue's attributes as moto names and formats them, each computed on lookup."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:  # type: ignore[attr-defined]
            names += queue.KMS_ATTRIBUTES
        self._names = dict.fromkeys(names)  # Policy and RedrivePolicy are among the base names

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        if name == "RedrivePolicy" and self._queue.redrive_policy:
            return json.dumps(self._queue.redrive_policy)
        value = getattr(self._queue, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __contains__(self, name: object) -> bool:
        return name in self._names  # without computing the value, unlike Mapping's

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _lazy_attributes(queue: Queue) -> LazyAttributes:
    return LazyAttributes(queue)


MOTO_ATTRIBUTES = Queue.attributes
"""moto's own property, kept for the tests that compare against it."""

PATCHES = [(Queue, "attributes", property(_lazy_attributes))]
"""Installed by local/emulator.py (for good in the stack's process, for a block in tests)."""
