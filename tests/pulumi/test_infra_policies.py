"""IAM builders and HandlerFunction's pure parts: exact actions on exact resources."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components import policies
from components.function import HandlerRuntime, function_environment
from handlers.wiring import ENV_ENDPOINT_URL, ENV_TOPIC_ARN, WIRING, FunctionSpec, TableGrant

TABLE_ARNS = {t.name: f"arn:aws:dynamodb:eu-west-1:123456789012:table/test-{t.name}" for t in WIRING.tables}
LOG_GROUP = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/x"
RUNTIME = HandlerRuntime(
    stack="test",
    prefix="blog-analytics-test",
    code=pulumi.AssetArchive({}),
    layer_arn="arn:layer",
    log_retention_days=1,
    env={ENV_TOPIC_ARN: "arn:topic"},
)


QUEUE_ARNS = {q.name: f"arn:q:{q.name}" for q in WIRING.queues}


def _arns(**extra: Any) -> policies.StackArns:
    return policies.StackArns(log_group=LOG_GROUP, tables=TABLE_ARNS, **extra)


def function_statements(spec: FunctionSpec, arns: policies.StackArns) -> list[policies.Statement]:
    return policies.function_statements(spec, WIRING, arns)


def test_policies_table_statements_grant_exactly_the_listed_actions_on_the_table() -> None:
    grant = TableGrant("PostCountReader", ("dynamodb:Scan", "dynamodb:BatchGetItem"))
    (statement,) = policies.table_statements([grant], TABLE_ARNS)
    assert statement["Action"] == ["dynamodb:BatchGetItem", "dynamodb:Scan"]
    assert statement["Resource"] == [TABLE_ARNS["PostCountReader"]]


def test_policies_table_statements_reject_an_unknown_table() -> None:
    with pytest.raises(ValueError, match="'Nope'"):
        policies.table_statements([TableGrant("Nope", ("dynamodb:GetItem",))], TABLE_ARNS)


def test_policies_queue_policy_is_conditioned_on_the_topic() -> None:
    (statement,) = json.loads(policies.queue_policy("arn:queue", "arn:topic"))["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": "arn:topic"}}


def test_policies_document_is_stable_json() -> None:
    statement = policies.publish_statement("arn:topic")
    assert policies.document([statement]) == policies.document([dict(reversed(statement.items()))])


def test_function_statements_for_a_route_function_without_grants_only_write_logs() -> None:
    statements = function_statements(WIRING.function("connect"), _arns())
    assert [s["Sid"] for s in statements] == ["WriteOwnLogs"]
    assert statements[0]["Resource"] == [f"{LOG_GROUP}:*"]


def test_function_statements_publisher_gets_publish_on_the_topic_only() -> None:
    statements = function_statements(WIRING.function("views"), _arns(topic="arn:topic"))
    publish = [s for s in statements if s["Action"] == ["sns:Publish"]]
    assert [s["Resource"] for s in publish] == [["arn:topic"]]


def test_function_statements_publisher_without_topic_is_an_error() -> None:
    with pytest.raises(ValueError, match="publishes"):
        function_statements(WIRING.function("views"), _arns())


def test_function_statements_non_publisher_ignores_a_topic() -> None:
    statements = function_statements(WIRING.function("stats"), _arns(topic="arn:topic"))
    assert all("sns:Publish" not in s["Action"] for s in statements)


def test_function_statements_consumer_receives_from_its_queues_only() -> None:
    statements = function_statements(WIRING.function("post-counter"), _arns(queues=QUEUE_ARNS))
    (consume,) = [s for s in statements if "sqs:ReceiveMessage" in s["Action"]]
    assert consume["Resource"] == ["arn:q:post_view"]
    assert sorted(consume["Action"]) == ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]


def test_function_statements_stream_consumer_reads_the_stream_and_sends_failures() -> None:
    arns = _arns(streams={"PostCountWriter": "arn:stream"}, failure_queues={"replicate-failures": "arn:f"})
    statements = function_statements(WIRING.function("replicate"), arns)
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["ReadStream"]["Resource"] == ["arn:stream"]
    assert by_sid["SendFailedRecords"] == {
        "Sid": "SendFailedRecords",
        "Effect": "Allow",
        "Action": ["sqs:SendMessage"],
        "Resource": ["arn:f"],
    }


def test_function_statements_repair_rereads_stream_records_and_nothing_else_of_the_stream() -> None:
    spec = WIRING.function("replicate-repair")
    arns = _arns(
        queues=QUEUE_ARNS, streams={"PostCountWriter": "arn:stream"}, failure_queues={"replicate-failures": "arn:f"}
    )
    statements = function_statements(spec, arns)
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["RereadStreamRecords"]["Action"] == ["dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    assert by_sid["RereadStreamRecords"]["Resource"] == ["arn:stream"]
    assert "ReadStream" not in by_sid and "SendFailedRecords" not in by_sid
    assert by_sid["ConsumeOwnQueue"]["Resource"] == ["arn:f"]


def test_function_statements_a_consumer_without_its_queue_arn_is_an_error() -> None:
    """The wiring table says what a function needs; a missing ARN fails, it does not drop the grant."""
    with pytest.raises(ValueError, match="post-counter consumes queue 'post_view'"):
        function_statements(WIRING.function("post-counter"), _arns())


def test_function_statements_a_stream_consumer_without_its_stream_arn_is_an_error() -> None:
    with pytest.raises(ValueError, match="replicate reads the stream of 'PostCountWriter'"):
        function_statements(WIRING.function("replicate"), _arns(failure_queues={"replicate-failures": "arn:f"}))


def test_function_statements_a_function_wired_to_two_streams_is_an_error() -> None:
    """Two ReadStream statements would share a Sid; the role is refused rather than half built."""
    twice = WIRING._replace(streams=(*WIRING.streams, WIRING.streams[0]._replace(table="Referrer")))
    arns = _arns(
        streams={"PostCountWriter": "arn:s1", "Referrer": "arn:s2"}, failure_queues={"replicate-failures": "arn:f"}
    )
    with pytest.raises(ValueError, match="replicate is wired to 2 streams"):
        policies.function_statements(WIRING.function("replicate"), twice, arns)


def test_function_statements_ignore_arns_the_wiring_does_not_give_the_function() -> None:
    every = _arns(
        topic="arn:topic",
        queues=QUEUE_ARNS,
        streams={"PostCountWriter": "arn:stream"},
        failure_queues={"replicate-failures": "arn:f"},
    )
    assert [s["Sid"] for s in function_statements(WIRING.function("connect"), every)] == ["WriteOwnLogs"]


def test_function_environment_holds_the_stack_and_the_spec_names() -> None:
    assert function_environment(FunctionSpec("f", "handlers.f", env=(ENV_TOPIC_ARN,)), RUNTIME) == {
        "STACK": "test",
        "TOPIC_ARN": "arn:topic",
    }


def test_function_environment_refuses_the_local_endpoint() -> None:
    with pytest.raises(ValueError, match=ENV_ENDPOINT_URL):
        function_environment(FunctionSpec("f", "handlers.f", env=(ENV_ENDPOINT_URL,)), RUNTIME)


def test_function_environment_names_a_missing_value() -> None:
    with pytest.raises(ValueError, match="PAGE_RULES"):
        function_environment(FunctionSpec("f", "handlers.f", env=("PAGE_RULES",)), RUNTIME)


def test_policies_stream_read_grants_no_list_streams() -> None:
    """ListStreams has no resource-level permission: on the stream ARN it is dead weight, and the
    mapping, handed the stream ARN, needs only DescribeStream, GetShardIterator and GetRecords."""
    statement = policies.read_stream_statement("arn:aws:dynamodb:eu-west-1:1:table/t/stream/x")
    assert sorted(statement["Action"]) == [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
    ]
    assert statement["Resource"] == ["arn:aws:dynamodb:eu-west-1:1:table/t/stream/x"]
