"""The local stack's metric filters: refusal log lines become CloudWatch data points in the emulator.

On AWS, components/filtered_metrics.py makes a metric filter per reason on the functions'
log groups. Here the handlers' log lines go to stderr through RefusalTee, which copies each
line on and, for a refusal line (handlers/filtered.reason_of), puts 1 into the same metric
in the emulator's CloudWatch, so the owner reads both stacks with the same command:

    aws cloudwatch get-metric-statistics --namespace blog-analytics/local --metric-name Refused \
      --dimensions Name=Reason,Value=bot --statistics Sum --period 86400 \
      --start-time 2026-11-29T00:00Z --end-time 2026-11-30T00:00Z --endpoint-url <aws=...>
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, TextIO

from handlers.filtered import METRIC, REASON_DIMENSION, Reason, metric_namespace, reason_of

Record = Callable[[Reason], None]


def cloudwatch_recorder(cloudwatch: Any, stack: str) -> Record:
    """Puts one data point per refusal, as the metric filter does on AWS."""
    namespace = metric_namespace(stack)

    def record(reason: Reason) -> None:
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": METRIC,
                    "Dimensions": [{"Name": REASON_DIMENSION, "Value": reason}],
                    "Value": 1.0,
                    "Unit": "Count",
                }
            ],
        )

    return record


class RefusalTee(io.TextIOBase):
    """A text stream that writes through to `target` and records each refusal line.

    handlers/log.py writes one whole line per call, so lines are read per write; a
    failure to record never stops the line from being written.
    """

    def __init__(self, target: TextIO, record: Record) -> None:
        super().__init__()
        self._target = target
        self._record = record

    def write(self, text: str) -> int:
        written = self._target.write(text)
        for line in text.splitlines():
            reason = reason_of(line) if '"reason"' in line else None
            if reason is not None:
                try:
                    self._record(reason)
                except Exception as exc:
                    self._target.write(
                        f'{{"level":"warning","event":"refusal_not_recorded","error":"{type(exc).__name__}"}}\n'
                    )
        return written

    def flush(self) -> None:
        self._target.flush()

    def writable(self) -> bool:
        return True
