"""The report's one CloudWatch read: `Refused` per reason for the period (GetMetricData).

The functions' metric filters (components/filtered_metrics.py) and the local stack
(local/refusals.py) put the data points; this module only reads them, with one
MetricDataQuery per reason in one request (GetMetricData takes up to 500 queries), and
follows NextToken: a request returns at most MaxDatapoints (100,800 by default) data points
and pages the rest. A refusal to read (AccessDenied, no endpoint) is not the report's
failure: it comes back as Refused.error, which every output states.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from report import model
from report.model import Period, Refused
from report.settings import EMULATOR_CREDENTIALS, StackSettings

# A CloudWatch that cannot be reached must not hold the whole report for minutes.
CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3})
DENIED = ("AccessDenied", "AccessDeniedException", "UnrecognizedClientException")


def client(settings: StackSettings) -> Any:
    """A CloudWatch client like store.client's: the caller's credentials, the emulator's if none."""
    session = boto3.session.Session(region_name=settings.region)
    credentials: Credentials | None = session.get_credentials()
    extra = EMULATOR_CREDENTIALS if settings.endpoint_url and credentials is None else {}
    return session.client("cloudwatch", endpoint_url=settings.endpoint_url, config=CONFIG, **extra)


def pages(cloudwatch: Any, queries: list[dict[str, Any]], start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """Every MetricDataResult of every page, NextToken after NextToken."""
    kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
    while True:
        response = cloudwatch.get_metric_data(**kwargs)
        yield from response.get("MetricDataResults", [])
        token = response.get("NextToken")
        if not token:
            return
        kwargs = {**kwargs, "NextToken": token}


def problem(exc: Exception) -> str:
    """One line saying why the refusals could not be read, and what to check."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in DENIED:
            return f"{code}: the credentials may not call cloudwatch:GetMetricData (README: Seeing your numbers)"
        return f"{code}: {error.get('Message', '')}"
    return f"cannot reach CloudWatch: {exc}"


def read_refused(settings: StackSettings, period: Period, today: date, cloudwatch: Any = None) -> Refused:
    kept_from = model.refusals_kept_from(today)
    window = model.refusal_window(period, kept_from)
    if window is None:  # nothing CloudWatch still keeps: no call
        return model.refused_from_results((), period, kept_from)
    try:
        cloudwatch = cloudwatch or client(settings)
        results = list(pages(cloudwatch, model.refusal_queries(settings.stack, period.by), *window))
    except (BotoCoreError, ClientError) as exc:
        return Refused(kept_from, error=problem(exc))
    return model.refused_from_results(results, period, kept_from)
