"""Freshness: from a view sent to its reply, and to its count showing in PostCountReader.

Shares the load run of bench/cost.py. "Counted" is when the reader's total for the
article first included the view (bench/load.py attribute_counted), observed by a
poller every POLL_SECONDS, so it is late by up to one poll interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.load import LoadRun

POLL_SECONDS = 0.1
GOAL_COUNTED_P99_SECONDS = 2.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class Freshness:
    rate: float
    views: int
    failed: int
    reply_p50: float
    reply_p99: float
    session_p99: float
    """Handshake ($connect) + view + reply, as a page sees it."""
    posts: int
    counted_p50: float
    counted_p99: float
    never_counted: int
    achieved_rate: float


def freshness(run: LoadRun) -> Freshness:
    ok = run.ok
    replies = [v.replied - v.sent for v in ok if v.replied is not None]
    sessions = [v.replied - v.started for v in ok if v.replied is not None]
    posts = [v for v in ok if v.article_id is not None]
    counted = [v.counted - v.sent for v in posts if v.counted is not None]
    span = run.sent_all - run.started
    return Freshness(
        rate=run.rate,
        views=len(run.views),
        failed=len(run.views) - len(ok),
        reply_p50=percentile(replies, 0.5),
        reply_p99=percentile(replies, 0.99),
        session_p99=percentile(sessions, 0.99),
        posts=len(posts),
        counted_p50=percentile(counted, 0.5),
        counted_p99=percentile(counted, 0.99),
        never_counted=len(posts) - len(counted),
        achieved_rate=(len(run.views) - 1) / span if span > 0 else math.nan,
    )
