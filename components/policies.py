"""IAM documents as small pure functions of plain ARNs.

Each statement names the exact actions and the exact resources one function uses;
nothing here takes a wildcard action or a bare "*" resource. The one suffix pattern is
the function's own log group (`<log-group-arn>:*`), because Lambda names its log
streams at run time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from handlers.wiring import TableGrant

Statement = dict[str, Any]

VERSION = "2012-10-17"
# What Lambda's event source mapping calls on the one stream ARN it is given. AWS's
# examples also list dynamodb:ListStreams (the DynamoDB guide's Lambda example on the
# stream ARN, the managed policy AWSLambdaDynamoDBExecutionRole on "*"), but ListStreams
# lists an account's streams, has no resource-level permission (so on a stream ARN it
# grants nothing, and granting it means "*"), and a mapping that is handed the stream
# ARN never needs to find it: it is left out rather than widened.
STREAM_READ_ACTIONS = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
)
QUEUE_CONSUME_ACTIONS = ("sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage")
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


def document(statements: Iterable[Statement]) -> str:
    """A policy document as JSON (stable key order, so an unchanged policy shows no diff)."""
    return json.dumps({"Version": VERSION, "Statement": list(statements)}, sort_keys=True)


def assume_role_policy(service: str) -> str:
    """Trust policy letting one AWS service (e.g. lambda.amazonaws.com) assume the role."""
    return document([{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}])


def _sid(*words: str) -> str:
    return "".join(w[:1].upper() + w[1:] for word in words for w in word.replace("-", "_").split("_"))


def table_statements(grants: Sequence[TableGrant], table_arns: Mapping[str, str]) -> list[Statement]:
    """One statement per granted table: exactly the wiring table's actions on that table's ARN."""
    statements = []
    for grant in grants:
        if grant.table not in table_arns:
            raise ValueError(f"table grant for {grant.table!r}: no such table in the stack")
        statements.append(
            {
                "Sid": _sid(grant.table, "access"),
                "Effect": "Allow",
                "Action": sorted(grant.actions),
                "Resource": [table_arns[grant.table]],
            }
        )
    return statements


def publish_statement(topic_arn: str) -> Statement:
    return {"Sid": "PublishViewEvents", "Effect": "Allow", "Action": ["sns:Publish"], "Resource": [topic_arn]}


def consume_queues_statement(queue_arns: Sequence[str]) -> Statement:
    """What the SQS event source mapping needs, on the function's own queues only."""
    return {
        "Sid": "ConsumeOwnQueue",
        "Effect": "Allow",
        "Action": list(QUEUE_CONSUME_ACTIONS),
        "Resource": sorted(queue_arns),
    }


def read_stream_statement(stream_arn: str) -> Statement:
    return {
        "Sid": "ReadStream",
        "Effect": "Allow",
        "Action": list(STREAM_READ_ACTIONS),
        "Resource": [stream_arn],
    }


def reread_stream_statement(stream_arn: str) -> Statement:
    """Reading records back by sequence number (GetShardIterator AT_SEQUENCE_NUMBER, then
    GetRecords); no DescribeStream or ListStreams, which only a mapping needs."""
    return {
        "Sid": "RereadStreamRecords",
        "Effect": "Allow",
        "Action": ["dynamodb:GetRecords", "dynamodb:GetShardIterator"],
        "Resource": [stream_arn],
    }


def send_to_queue_statement(queue_arn: str) -> Statement:
    """The stream mapping's on-failure destination is written with the function's role."""
    return {
        "Sid": "SendFailedRecords",
        "Effect": "Allow",
        "Action": ["sqs:SendMessage"],
        "Resource": [queue_arn],
    }


def write_logs_statement(log_group_arn: str) -> Statement:
    return {
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": list(LOG_ACTIONS),
        "Resource": [f"{log_group_arn}:*"],
    }


def queue_policy(queue_arn: str, topic_arn: str) -> str:
    """Only SNS, and only for this one topic, may send to the queue."""
    return document(
        [
            {
                "Sid": "AllowViewEventTopic",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ]
    )
