"""What was filtered, in the report: CloudWatch `Refused` per reason and day, on moto and stubbed failures."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber
from support.aws import REGION, STACK, Cloud
from support.report_data import fill_example, stack_root

from handlers.filtered import EVENTS, METRIC, REASON_DIMENSION, REASONS, metric_namespace
from report import csvfiles, metrics, model
from report.cli import main
from report.model import Period

TODAY = date(2026, 11, 30)
PERIOD = ("--since", "2026-11-01", "--until", "2026-11-30")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


# Each point is one refusal, as a metric filter puts it (value 1); several fall in one day and hour.
POINTS = [
    ("bot", at(5, 9)),
    ("bot", at(5, 9, 30)),
    ("bot", at(5, 23, 59)),
    ("bot", at(29, 0)),
    ("origin", at(5, 10)),
    ("unsigned", at(20, 12)),
    ("unsigned", at(20, 12, 1)),
    ("referrer_spam", at(29, 14)),
    ("bot", datetime(2026, 10, 31, 23, 59, tzinfo=UTC)),  # the day before the period
    ("bot", datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),  # the day after it
]


def put(cloudwatch: Any, points: list[tuple[str, datetime]], stack: str = STACK, metric: str = METRIC) -> None:
    for reason, when in points:
        cloudwatch.put_metric_data(
            Namespace=metric_namespace(stack),
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": REASON_DIMENSION, "Value": reason}],
                    "Timestamp": when,
                    "Value": 1.0,
                    "Unit": "Count",
                }
            ],
        )


def run(root: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--stack", STACK, *argv], out, err, TODAY, root)
    return code, out.getvalue(), err.getvalue()


def refused_json(root: Path, *argv: str) -> dict[str, Any]:
    code, out, err = run(root, "--json", *PERIOD, *argv)
    assert code == 0, err
    refused: dict[str, Any] = json.loads(out)["refused"]
    return refused


@pytest.fixture
def example(cloud: Cloud, tmp_path: Path) -> Path:
    fill_example(cloud)
    put(boto3.client("cloudwatch", region_name=REGION), POINTS)
    return stack_root(tmp_path)


@pytest.fixture
def unreadable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """CloudWatch answers AccessDenied to GetMetricData, as it does without the README's statement."""
    stubbed = boto3.client("cloudwatch", region_name=REGION)
    stubber = Stubber(stubbed)
    message = "User: arn:aws:iam::123456789012:user/reader is not authorized to perform: cloudwatch:GetMetricData"
    for _ in range(2):  # one per run of the report in the test
        stubber.add_client_error("get_metric_data", "AccessDenied", message, 403)
    monkeypatch.setattr(metrics, "client", lambda settings: stubbed)
    with stubber:
        yield


def test_report_refused_per_reason_and_day_equal_what_was_put(example: Path) -> None:
    refused = refused_json(example)
    assert refused["error"] is None
    assert refused["keptFrom"] == "2025-09-02"
    assert refused["reasons"] == [
        {
            "reason": "bot",
            "group": "connections",
            "count": 4,
            "series": [{"start": "2026-11-05", "count": 3}, {"start": "2026-11-29", "count": 1}],
        },
        {"reason": "origin", "group": "connections", "count": 1, "series": [{"start": "2026-11-05", "count": 1}]},
        {"reason": "budget", "group": "views", "count": 0, "series": []},
        {"reason": "unsigned", "group": "views", "count": 2, "series": [{"start": "2026-11-20", "count": 2}]},
        {"reason": "referrer_spam", "group": "referrers", "count": 1, "series": [{"start": "2026-11-29", "count": 1}]},
    ]


def test_report_refused_by_hour_sums_each_hour(example: Path) -> None:
    refused = refused_json(example, "--by", "hour")
    bot = refused["reasons"][0]
    assert bot["series"] == [
        {"start": "2026-11-05T09:00Z", "count": 2},
        {"start": "2026-11-05T23:00Z", "count": 1},
        {"start": "2026-11-29T00:00Z", "count": 1},
    ]


def test_report_refused_reads_only_the_refused_metric(cloud: Cloud, tmp_path: Path) -> None:
    # moto 5.2.5 drops the namespace filter when a query has dimensions, so another stack's
    # namespace would leak in there (never on AWS); another metric name is filtered either way.
    put(boto3.client("cloudwatch", region_name=REGION), [("bot", at(5, 9))], metric="NotRefused")
    refused = refused_json(stack_root(tmp_path))
    assert refused["error"] is None
    assert [r["count"] for r in refused["reasons"]] == [0] * len(REASONS)


def test_emulator_get_metric_data_sums_per_period_as_aws(cloud: Cloud) -> None:
    """The local stack reads moto: its GetMetricData must add up a period's points, not list them."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    put(cloudwatch, [("bot", at(5, 9)), ("bot", at(5, 9, 30)), ("bot", at(5, 23, 59)), ("bot", at(6, 0))])
    queries = model.refusal_queries(STACK, "day")[:1]
    answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=at(5, 0), EndTime=at(7, 0))
    (result,) = answer["MetricDataResults"]
    assert sorted(zip(result["Timestamps"], result["Values"], strict=True)) == [(at(5, 0), 3.0), (at(6, 0), 1.0)]


def test_report_refused_follows_next_token() -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, config=Config(signature_version="UNSIGNED"))
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    expected = {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY}
    with Stubber(cloudwatch) as stubber:
        first = {"Id": "r0", "Timestamps": [at(5, 0)], "Values": [3.0], "StatusCode": "PartialData"}
        stubber.add_response("get_metric_data", {"MetricDataResults": [first], "NextToken": "page-2"}, expected)
        rest = [
            {"Id": "r0", "Timestamps": [at(29, 0)], "Values": [1.0], "StatusCode": "Complete"},
            {"Id": "r3", "Timestamps": [at(20, 0)], "Values": [2.0], "StatusCode": "Complete"},
        ]
        stubber.add_response("get_metric_data", {"MetricDataResults": rest}, {**expected, "NextToken": "page-2"})
        refused = metrics.read_refused(model_settings(), period, TODAY, cloudwatch)
        stubber.assert_no_pending_responses()
    assert refused.totals() == {"bot": 4, "origin": 0, "budget": 0, "unsigned": 2, "referrer_spam": 0}


def model_settings() -> Any:
    from report.settings import StackSettings  # noqa: PLC0415

    return StackSettings(STACK, REGION)


def test_report_access_denied_still_reports_the_views_and_says_why_once(
    example: Path, tmp_path: Path, unreadable: None
) -> None:
    code, out, err = run(example, "--json", "--csv", str(tmp_path / "csv"), "--html", str(tmp_path / "r.html"))
    assert code == 0, err
    document = json.loads(out)
    assert document["posts"][0]["totalViews"] == 12  # everything else as without the failure
    assert document["refused"]["reasons"] == []  # no silent zero
    assert "AccessDenied" in document["refused"]["error"]
    assert err.count("refusals not shown") == 1 and "cloudwatch:GetMetricData" in err
    assert csvfiles.read_csv(tmp_path / "csv")["refused"] == {"error": document["refused"]["error"], "reasons": []}
    assert "Refusals could not be read: AccessDenied" in (tmp_path / "r.html").read_text()
    code, out, err = run(example)
    assert code == 0 and "could not be read: AccessDenied" in out and "Top posts" in out
    assert err.count("refusals not shown") == 1


def test_report_cloudwatch_unreachable_still_reports_the_views(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = boto3.client(
        "cloudwatch",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    monkeypatch.setattr(metrics, "client", lambda settings: closed)
    code, out, err = run(example)
    assert code == 0, err
    assert "Top posts" in out and "could not be read: cannot reach CloudWatch" in out
    assert err.count("refusals not shown: cannot reach CloudWatch") == 1


def test_report_refused_csv_round_trips(example: Path, tmp_path: Path) -> None:
    code, out, err = run(example, "--json", *PERIOD, "--csv", str(tmp_path / "csv"))
    assert code == 0, err
    refused = json.loads(out)["refused"]
    del refused["keptFrom"]  # a fact of the day it was read, like `until`: not in the CSV
    assert csvfiles.read_csv(tmp_path / "csv")["refused"] == refused
    assert "bot,connections,,4," in (tmp_path / "csv" / "refused.csv").read_text()


def test_report_summary_has_a_filtered_section_per_reason_and_day(example: Path) -> None:
    code, out, _ = run(example, *PERIOD)
    assert code == 0
    section = out[out.index("Filtered") :].splitlines()
    bot = next(line for line in section if line.strip().startswith("bot ($connect)"))
    assert bot.split()[2] == "4"
    assert any(line.strip().startswith("budget (views)") and line.split()[2] == "0" for line in section)
    day = next(line for line in section if line.startswith("2026-11-05"))
    assert day.split() == ["2026-11-05", "3", "1", "0", "0", "0"]


def test_report_html_shows_refused_per_reason(example: Path, tmp_path: Path) -> None:
    code, _, err = run(example, *PERIOD, "--html", str(tmp_path / "r.html"))
    assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    assert '<tr data-reason="bot">' in page and '<td class="n count">4</td>' in page


def test_refusal_groups_cover_every_logged_event() -> None:
    assert {model.refusal_group(reason) for reason in REASONS} == set(model.GROUPS.values())
    assert set(EVENTS.values()) == set(model.GROUPS)
    assert [r for r in REASONS if model.refusal_source(r) == "$connect"] == ["bot", "origin"]


def test_refusal_window_starts_where_cloudwatch_still_keeps_data() -> None:
    kept_from = model.refusals_kept_from(TODAY)
    assert (TODAY - kept_from).days == model.REFUSALS_KEPT_DAYS - 1
    window = model.refusal_window(Period(date(2024, 1, 1), TODAY), kept_from)
    assert window == (datetime(2025, 9, 2, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert model.refusal_window(Period(date(2024, 1, 1), date(2024, 1, 31)), kept_from) is None


def test_refused_from_results_ignores_points_outside_the_period_and_unknown_ids() -> None:
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    results = [
        {"Id": "r0", "Timestamps": [at(5, 0), datetime(2026, 12, 1, tzinfo=UTC)], "Values": [2.0, 9.0]},
        {"Id": "r99", "Timestamps": [at(5, 0)], "Values": [7.0]},
        {"Id": "x", "Timestamps": [at(5, 0)], "Values": [7.0]},
    ]
    refused = model.refused_from_results(results, period, date(2025, 9, 2))
    assert refused.totals() == {"bot": 2, "origin": 0, "budget": 0, "unsigned": 0, "referrer_spam": 0}


def test_refused_from_results_an_internal_error_is_said_not_shown_as_fewer() -> None:
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    results: list[dict[str, Any]] = [
        {"Id": "r0", "Timestamps": [at(5, 0)], "Values": [2.0], "StatusCode": "Complete"},
        {"Id": "r1", "Timestamps": [], "Values": [], "StatusCode": "InternalError"},
    ]
    refused = model.refused_from_results(results, period, date(2025, 9, 2))
    assert (refused.series, refused.error) == ((), "CloudWatch answered InternalError for reason origin")
