"""The Series table's items as the series consumer writes them, for synthetic tables.

The series consumer writes the real items; the tests and the bench fill a table with items
of exactly this shape, so the report is checked against the contract, not against itself.
"""

from __future__ import annotations

from typing import Any

from handlers.wiring import SERIES, WIRING, create_table_request
from report.model import Target


def create_series_request(stack: str) -> dict[str, Any]:
    """CreateTable for `<stack>-Series`, from the wiring table the stacks are built from."""
    return create_table_request(WIRING.table(SERIES), stack)


def snapshot_item(target: Target, hour: str, total: int, unique: int) -> dict[str, Any]:
    """A post's or page's hour (`2026-11-29T14`): the highest running totals seen in it."""
    return {
        "seriesKey": {"S": target.series_key},
        "bucket": {"S": hour},
        "totalViews": {"N": str(total)},
        "uniqueViews": {"N": str(unique)},
    }


def referrer_item(origin: str, day: str, target: Target, views: int) -> dict[str, Any]:
    """A referrer's day (`2026-11-29`) and target: the highest running total of its Referrer row."""
    return {
        "seriesKey": {"S": f"ref#{origin}"},
        "bucket": {"S": f"{day}#{target.series_key}"},
        "views": {"N": str(views)},
    }
