"""The partial-failure reply of a batch consumer (SQS or DynamoDB stream). No pydantic here:
the stream consumer needs only this, and its cold start should not pay for the schema."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


def batch_response(failed_ids: Iterable[str]) -> BatchResponse:
    """Failed items, once each, in first-seen order: Lambda retries exactly these."""
    return {"batchItemFailures": [{"itemIdentifier": i} for i in dict.fromkeys(failed_ids)]}
