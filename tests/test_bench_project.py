"""bench/project.py: the projection models the stack the load runs drive (live counts off)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench import project
from handlers.wiring import LIVE_FUNCTIONS, WIRING

RATE = 10.0


def _records(**kwargs: Any) -> list[Any]:
    _, records = project.synthesise(RATE, {}, **kwargs)
    return records


def _invoked(records: list[Any]) -> Counter[str]:
    return Counter(r["fn"] for r in records if r["kind"] == "invoke")


def _writes(records: list[Any], fn: str) -> int:
    """Per-key writes (a reader copy, a snapshot), not replicate's top posts item."""
    return sum(
        1
        for r in records
        if r["kind"] == "call" and r["fn"] == fn and r["op"] in ("PutItem", "UpdateItem")
        if r["write"] == [project.ITEM_BYTES]
    )


def _count_updates(records: list[Any], *functions: str) -> int:
    return sum(1 for r in records if r["kind"] == "call" and r["fn"] in functions and r["op"] == "TransactWriteItems")


def test_project_load_runs_have_no_disconnect_and_no_live_fan_out() -> None:
    invoked = _invoked(_records())
    views = invoked["views"]
    assert views == RATE * project.SECONDS and invoked["connect"] == views
    assert invoked["disconnect"] == 0, "live counts off: no $disconnect route"
    assert not set(invoked) & set(LIVE_FUNCTIONS)
    assert _invoked(_records(wiring=WIRING))["disconnect"] == views, "live counts on: one per session"


def test_project_each_stream_consumer_writes_only_its_own_tables_updates() -> None:
    records = _records()
    post_updates = _count_updates(records, "post-counter")
    page_updates = _count_updates(records, "homepage-counter", "profile-counter")
    referrer_updates = _count_updates(records, "referrer-counter")
    # replicate copies post updates only (pages have no reader copy), at most one per update,
    # fewer where a quarter second holds the same post twice.
    assert 0 < _writes(records, "replicate") <= post_updates
    top_reads = [r for r in records if r["kind"] == "call" and r["fn"] == "replicate" and r["op"] == "GetItem"]
    assert len(top_reads) == _invoked(records)["replicate"], "the top posts' item is read once per batch"
    # Series gathers 10 s, so a key is written once per window however often it changed.
    for fn, updates in (("series-posts", post_updates), ("series-pages", page_updates)):
        assert 0 < _writes(records, fn) < updates / 2, fn
    assert 0 < _writes(records, "series-referrers") <= referrer_updates
    per_view = sum(_writes(records, fn) for fn in _invoked(records)) / (RATE * project.SECONDS)
    assert per_view < 1.5, "a stream write per view and consumer would be the old model's 7 per update"
