"""OperationalAlarms: what an operator must hear of, sent to the owner's alert topic.

A CloudWatch alarm on every dead-letter queue and every stream mapping's on-failure queue
(and its own DLQ) as soon as one message is visible, and on every function's Errors (an
invocation that raised or timed out; a batch item reported as failed is not one, and ends in
a queue above if it keeps failing). So a dead-lettered view never goes unnoticed. Built only
with the alert topic: an alarm nobody receives is noise.

Queue and function names come from the wiring table and the prefix, exactly as the bus, the
stream consumers and the gateway name them (tests hold the alarms to the deployed queues).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from handlers.wiring import Wiring, function_name, queue_name

PERIOD_SECONDS = 60
"""The shortest period both metrics have (SQS publishes every minute)."""


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: a metric above zero."""

    name: str
    namespace: str
    metric: str
    dimension: tuple[str, str]
    statistic: str
    description: str


def alarm_specs(wiring: Wiring, prefix: str) -> list[AlarmSpec]:
    """Pure: every alarm the stack needs, named `<resource>-<what>`."""
    dead = [queue_name(prefix, q.name, dlq=True) for q in wiring.queues]
    dead += [queue_name(prefix, s.failure_queue) for s in wiring.streams]
    dead += [queue_name(prefix, s.failure_queue, dlq=True) for s in wiring.streams if s.repair is not None]
    specs = [
        AlarmSpec(
            f"{queue}-visible",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            ("QueueName", queue),
            "Maximum",
            f"{queue} holds a message: a view or a stream batch that could not be processed. "
            "Look at the message and the function's logs, then redrive it (README: Alerts and alarms).",
        )
        for queue in dead
    ]
    specs += [
        AlarmSpec(
            f"{function_name(prefix, f.name)}-errors",
            "AWS/Lambda",
            "Errors",
            ("FunctionName", function_name(prefix, f.name)),
            "Sum",
            f"{function_name(prefix, f.name)} failed an invocation (an exception or a timeout): see its log group.",
        )
        for f in wiring.functions
    ]
    return specs


@dataclass(frozen=True)
class OperationalAlarmsArgs:
    wiring: Wiring
    """The queues, streams and functions to watch."""
    prefix: str
    """Physical name prefix of the stack's queues and functions."""
    topic_arn: pulumi.Input[str]
    """Where an alarm publishes (OwnerAlerts)."""


class OperationalAlarms(pulumi.ComponentResource):
    """An alarm per dead-letter or on-failure queue and per function, publishing to the alert topic."""

    alarm_names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: OperationalAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("blog-analytics:index:OperationalAlarms", name, None, opts)
        alarms = [self._create_alarm(name, spec, args.topic_arn) for spec in alarm_specs(args.wiring, args.prefix)]
        self.alarm_names = pulumi.Output.all(*[a.name for a in alarms])
        self.register_outputs({"alarm_names": self.alarm_names})

    def _create_alarm(self, base: str, spec: AlarmSpec, topic_arn: pulumi.Input[str]) -> aws.cloudwatch.MetricAlarm:
        return aws.cloudwatch.MetricAlarm(
            f"{base}-{spec.name}",
            name=spec.name,
            alarm_description=spec.description,
            namespace=spec.namespace,
            metric_name=spec.metric,
            dimensions={spec.dimension[0]: spec.dimension[1]},
            statistic=spec.statistic,
            period=PERIOD_SECONDS,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            # No data is no message and no error (an idle queue stops sending metrics).
            treat_missing_data="notBreaching",
            alarm_actions=[topic_arn],
            opts=pulumi.ResourceOptions(parent=self),
        )
