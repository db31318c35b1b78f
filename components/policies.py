"""IAM documents as small pure functions of plain ARNs.

Each statement names the exact actions and the exact resources one function uses;
nothing here takes a wildcard action or a bare "*" resource. The one suffix pattern is
the function's own log group (`<log-group-arn>:*`), because Lambda names its log
streams at run time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from handlers.wiring import FunctionSpec, StreamSpec, TableGrant, Wiring

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


def publish_alerts_statement(topic_arn: str) -> Statement:
    return {"Sid": "PublishAlerts", "Effect": "Allow", "Action": ["sns:Publish"], "Resource": [topic_arn]}


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


def manage_connections_statement(connections_arn: str) -> Statement:
    """Pushes to this stage's open connections (PostToConnection; DeleteConnection is not used)."""
    return {
        "Sid": "PushToConnections",
        "Effect": "Allow",
        "Action": ["execute-api:ManageConnections"],
        "Resource": [connections_arn],
    }


def connections_resource_arn(execution_arn: str, stage: str) -> str:
    """This stage's `@connections` POSTs only:
    `arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/POST/@connections/*`."""
    return f"{execution_arn}/{stage}/POST/@connections/*"


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


@dataclass(frozen=True)
class StackArns:
    """What a stack has, by its wiring-table name; a function's grants pick from it."""

    log_group: str
    """The function's own log group."""
    tables: Mapping[str, str] = field(default_factory=dict)
    """Logical table name -> table ARN."""
    topic: str | None = None
    """The view-event topic."""
    queues: Mapping[str, str] = field(default_factory=dict)
    """QueueSpec.name -> queue ARN."""
    streams: Mapping[str, str] = field(default_factory=dict)
    """Logical table name -> its stream's ARN."""
    failure_queues: Mapping[str, str] = field(default_factory=dict)
    """StreamSpec.failure_queue -> queue ARN."""
    alert_topic: str | None = None
    """The owner's alert topic; None when the stack has no alert address."""
    connections: str | None = None
    """This stage's `@connections` resource (connections_resource_arn)."""


def _arn(arns: Mapping[str, str], name: str, function: str, what: str) -> str:
    if name not in arns:
        raise ValueError(f"function {function} {what} {name!r}, but no ARN for it was given")
    return arns[name]


def _at_most_one(streams: list[StreamSpec], function: str) -> list[StreamSpec]:
    # Each kind of statement covers one stream, which keeps the Sids unique in the role.
    if len(streams) > 1:
        raise ValueError(f"function {function} is wired to {len(streams)} streams; its role covers one")
    return streams


def function_statements(spec: FunctionSpec, wiring: Wiring, arns: StackArns) -> list[Statement]:
    """Pure: a function's whole role, from its spec and where the wiring table plugs it in.

    Tables and the topic come from the spec; the queues it consumes, the stream it reads,
    the on-failure queue it writes and the stream it re-reads come from the queues and
    streams that name it. A needed ARN that is missing is an error, never a dropped grant.
    """
    name = spec.name
    reads = _at_most_one([s for s in wiring.streams if s.function == name], name)
    repairs = _at_most_one([s for s in wiring.streams if s.repair is not None and s.repair.function == name], name)
    statements = [write_logs_statement(arns.log_group)]
    statements += table_statements(spec.tables, arns.tables)
    if spec.publishes:
        if not arns.topic:
            raise ValueError(f"function {name} publishes but was given no topic ARN")
        statements.append(publish_statement(arns.topic))
    if spec.alerts and arns.alert_topic:
        # Without a topic the function is told so (an empty ALERT_TOPIC_ARN) and publishes nothing.
        statements.append(publish_alerts_statement(arns.alert_topic))
    consumed = [_arn(arns.queues, q.name, name, "consumes queue") for q in wiring.queues if q.function == name]
    consumed += [_arn(arns.failure_queues, s.failure_queue, name, "consumes queue") for s in repairs]
    if consumed:
        statements.append(consume_queues_statement(consumed))
    for stream in reads:
        statements.append(read_stream_statement(_arn(arns.streams, stream.table, name, "reads the stream of")))
        statements.append(send_to_queue_statement(_arn(arns.failure_queues, stream.failure_queue, name, "sends to")))
    for stream in repairs:
        statements.append(reread_stream_statement(_arn(arns.streams, stream.table, name, "re-reads the stream of")))
    if spec.manages_connections:
        if not arns.connections:
            raise ValueError(f"function {name} pushes to connections but was given no @connections ARN")
        statements.append(manage_connections_statement(arns.connections))
    return statements
