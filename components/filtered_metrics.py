"""FilteredMetrics: a CloudWatch metric filter per refusal reason, so the owner sees what was filtered.

Each reason-coded log line (handlers/filtered.py) adds 1 to the metric `Refused` in the
namespace `blog-analytics/<stack>`, with the dimension `Reason`. Metric filters are free;
the custom metrics cost about $0.30 a month each (one per reason seen in the month). No
user agent, IP or connection id is in the lines, so none is in the metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from handlers.filtered import EVENTS, METRIC, REASON_DIMENSION, REASONS, SOURCES, Reason, metric_namespace
from handlers.wiring import function_name


@dataclass(frozen=True)
class FilteredMetricsArgs:
    """Where the functions log, and what must exist first."""

    stack: str
    """The stack name, for the metric namespace."""
    prefix: str
    """Physical name prefix, e.g. `blog-analytics-stage` (the functions' log groups)."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """The components whose functions create the log groups the filters read."""


def filter_pattern(reason: Reason) -> str:
    """Pure: the JSON pattern matching one reason's log lines."""
    return f'{{ $.event = "{EVENTS[reason]}" && $.reason = "{reason}" }}'


def log_group_name(prefix: str, function: str) -> str:
    """The log group components/function.py creates for a function of the wiring table."""
    return f"/aws/lambda/{function_name(prefix, function)}"


class FilteredMetrics(pulumi.ComponentResource):
    """One LogMetricFilter per reason, on the log group of the function that logs it."""

    namespace: str

    def __init__(self, name: str, args: FilteredMetricsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("blog-analytics:index:FilteredMetrics", name, None, opts)
        self.namespace = metric_namespace(args.stack)
        for reason in REASONS:
            aws.cloudwatch.LogMetricFilter(
                f"{name}-{reason.replace('_', '-')}",
                name=f"{args.prefix}-refused-{reason}",
                log_group_name=log_group_name(args.prefix, SOURCES[reason]),
                pattern=filter_pattern(reason),
                metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                    name=METRIC,
                    namespace=self.namespace,
                    value="1",
                    unit="Count",
                    dimensions={REASON_DIMENSION: "$.reason"},
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
            )
        self.register_outputs({"namespace": self.namespace})
