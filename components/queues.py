"""What every SQS queue and event source mapping of the stack shares (one definition each)."""

from __future__ import annotations

import json

# Lambda's guidance: at least six times the function timeout, so a message is not
# redelivered while a throttled or retried batch still holds it.
VISIBILITY_TIMEOUT_FACTOR = 6
# The longest SQS keeps a message: dead letters and failed-record summaries wait for an
# operator as long as they can.
MAX_RETENTION_SECONDS = 14 * 24 * 3600
# Mappings take the handlers' {"batchItemFailures": [...]} so one bad message or record
# is retried alone, not with its whole batch.
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


def redrive_policy(dlq_arn: str, max_receive_count: int) -> str:
    return json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})


def visibility_timeout(function_timeout_seconds: int) -> int:
    return VISIBILITY_TIMEOUT_FACTOR * function_timeout_seconds
