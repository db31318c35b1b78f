"""Alerts and alarms under Pulumi's mocks: a topic only with an address, and then an alarm on
every dead-letter and on-failure queue and every function, publishing to it."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.stack_graph import FUNCTION, METRIC_ALARM, QUEUE, SUBSCRIPTION, TOPIC, RunStack, StackGraph
from test_infra_program import _stack_file

from handlers.wiring import ENV_ALERT_TOPIC_ARN, ENV_ALERT_VIEWS_PER_HOUR, WIRING

EMAIL = "owner@example.com"


@pytest.fixture(scope="module")
def alerting(run_stack: RunStack, tmp_path_factory: pytest.TempPathFactory) -> StackGraph:
    path: Path = _stack_file(tmp_path_factory.mktemp("alerts"), "stage", alerts={"email": EMAIL, "viewsPerHour": 500})
    return run_stack("stage", path)


def _topic(graph: StackGraph) -> str:
    return f"arn:aws:sns:eu-west-1:123456789012:{graph.where(TOPIC, name='blog-analytics-stage-alerts')['name']}"


def test_alerts_no_address_no_topic_and_no_alarm(stack: StackGraph) -> None:
    assert [t["name"] for t in stack.of_type(TOPIC) if t["name"].endswith("-alerts")] == []
    assert [s for s in stack.of_type(SUBSCRIPTION) if s["protocol"] == "email"] == []
    assert stack.of_type(METRIC_ALARM) == []
    assert stack.outputs["alertTopicArn"] is None and stack.outputs["alarmNames"] == []
    for spec in WIRING.functions:
        if spec.alerts:
            variables = stack.function(spec.name)["environment"]["variables"]
            assert variables[ENV_ALERT_TOPIC_ARN] == "" and variables[ENV_ALERT_VIEWS_PER_HOUR] == "0"
            assert "PublishAlerts" not in {s["Sid"] for s in stack.statements(stack.function(spec.name))}


def test_alerts_address_subscribed_by_email_to_one_topic(alerting: StackGraph) -> None:
    topic = _topic(alerting)
    (subscription,) = [s for s in alerting.of_type(SUBSCRIPTION) if s["protocol"] == "email"]
    assert subscription["endpoint"] == EMAIL and subscription["topic"] == topic
    assert alerting.outputs["alertTopicArn"] == topic


def test_alerts_series_functions_told_the_topic_and_threshold_and_may_publish_only_there(
    alerting: StackGraph,
) -> None:
    topic = _topic(alerting)
    for spec in WIRING.functions:
        statements = alerting.statements(alerting.function(spec.name))
        published = [s for s in statements if s["Sid"] == "PublishAlerts"]
        if spec.alerts:
            assert published == [
                {"Sid": "PublishAlerts", "Effect": "Allow", "Action": ["sns:Publish"], "Resource": [topic]}
            ]
            variables = alerting.function(spec.name)["environment"]["variables"]
            assert variables[ENV_ALERT_TOPIC_ARN] == topic and variables[ENV_ALERT_VIEWS_PER_HOUR] == "500"
        else:
            assert published == [], spec.name


def test_alarms_every_dead_letter_and_on_failure_queue_any_message_visible(alerting: StackGraph) -> None:
    watched = {q["name"] for q in alerting.of_type(QUEUE) if q["name"].endswith(("-dlq", "-failures"))}
    alarms = {a["dimensions"]["QueueName"]: a for a in alerting.of_type(METRIC_ALARM) if a["namespace"] == "AWS/SQS"}
    assert set(alarms) == watched and len(watched) == len(WIRING.queues) + 2 * len(WIRING.streams) - sum(
        s.repair is None for s in WIRING.streams
    )
    for name, alarm in alarms.items():
        assert alarm["metricName"] == "ApproximateNumberOfMessagesVisible", name
        assert (alarm["threshold"], alarm["comparisonOperator"]) == (0, "GreaterThanThreshold"), name
        assert alarm["alarmActions"] == [_topic(alerting)], name
        assert alarm["treatMissingData"] == "notBreaching", name


def test_alarms_every_function_errors(alerting: StackGraph) -> None:
    functions = {f["name"] for f in alerting.of_type(FUNCTION)}
    alarms = {
        a["dimensions"]["FunctionName"]: a for a in alerting.of_type(METRIC_ALARM) if a["namespace"] == "AWS/Lambda"
    }
    assert set(alarms) == functions
    for name, alarm in alarms.items():
        assert (alarm["metricName"], alarm["statistic"], alarm["threshold"]) == ("Errors", "Sum", 0), name
        assert alarm["alarmActions"] == [_topic(alerting)], name


def test_alarms_exported_by_name(alerting: StackGraph) -> None:
    assert sorted(alerting.outputs["alarmNames"]) == sorted(a["name"] for a in alerting.of_type(METRIC_ALARM))
