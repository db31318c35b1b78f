"""parse_config: the stack config as a typed object, or an error naming the key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from run_program import stack_config
from support.stack_graph import ROOT

from components.config import EXAMPLES, Alerts, Batching, ConfigError, StackConfig, Throttling, parse_config
from handlers.pages import PageRule

VALID: dict[str, Any] = {
    "allowedOrigins": ["https://blog.example.com"],
    "throttling": {"burstLimit": 100, "rateLimit": 50},
    "logRetentionDays": 30,
}


def _parse(**changes: Any) -> StackConfig:
    """parse_config over VALID with keys changed (None removes one), as Pulumi passes them: JSON text."""
    values = {**VALID, **changes}
    raw = {k: json.dumps(v) for k, v in values.items() if v is not None}
    return parse_config(raw.get)


def _error(**changes: Any) -> str:
    with pytest.raises(ConfigError) as failure:
        _parse(**changes)
    return str(failure.value)


@pytest.mark.parametrize("stack", ["stage", "prod"])
def test_config_stack_files_parse(stack: str) -> None:
    values = stack_config(ROOT / f"Pulumi.{stack}.yaml")
    config = parse_config(lambda key: values.get(f"blog-analytics:{key}"))
    assert config.protect is (stack == "prod")


def test_config_minimal_values_parse_with_defaults() -> None:
    config = _parse()
    assert config.allowed_origins == ("https://blog.example.com",)
    assert config.throttling == Throttling(burst_limit=100, rate_limit=50.0)
    assert config.log_retention_days == 30
    assert config.batching == Batching()
    assert config.page_rules is None
    assert config.protect is False
    assert config.access_logs is False
    assert config.create_api_gateway_account is False


def test_config_missing_key_names_it_and_shows_an_example() -> None:
    message = _error(allowedOrigins=None)
    assert message.startswith("blog-analytics:allowedOrigins: required")
    assert 'blog-analytics:allowedOrigins: ["https://blog.example.com"]' in message


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("allowedOrigins", "x"),
        ("throttling", {"burstLimit": True, "rateLimit": 1}),
        ("logRetentionDays", 30.0),
        ("batching", {"batchingWindowSeconds": 301}),
        ("pageRules", [5]),
        ("protect", 1),
        ("accessLogs", "on"),
        ("createApiGatewayAccount", []),
    ],
)
def test_config_every_key_error_names_the_key_and_ends_with_its_example(key: str, bad: Any) -> None:
    message = _error(**{key: bad})
    assert message.startswith(f"blog-analytics:{key}: ")
    assert message.endswith(f"A valid example in Pulumi.<stack>.yaml:\n  blog-analytics:{key}: {EXAMPLES[key]}")


def test_config_plain_string_values_are_accepted_as_pulumi_stores_them() -> None:
    raw = {k: json.dumps(v) for k, v in VALID.items()} | {"protect": "true", "logRetentionDays": "14"}
    config = parse_config(raw.get)
    assert config.protect is True
    assert config.log_retention_days == 14


def test_config_allowed_origins_must_be_a_non_empty_list() -> None:
    assert "non-empty list" in _error(allowedOrigins=[])


def test_config_allowed_origins_reject_plain_http() -> None:
    assert "must use https://" in _error(allowedOrigins=["http://blog.example.com"])


def test_config_allowed_origins_admit_http_localhost() -> None:
    assert _parse(allowedOrigins=["http://localhost:8787"]).allowed_origins == ("http://localhost:8787",)


@pytest.mark.parametrize(
    "origin", ["https://blog.example.com:443", "HTTPS://Blog.Example.COM.", "https://blog.example.com/"]
)
def test_config_allowed_origins_normalised_as_connect_compares_them(origin: str) -> None:
    """`:443` in the config used to refuse the real blog at $connect."""
    assert _parse(allowedOrigins=[origin, "https://blog.example.com"]).allowed_origins == ("https://blog.example.com",)


def test_config_allowed_origins_admit_numeric_localhost_forms() -> None:
    assert _parse(allowedOrigins=["http://127.1:8787"]).allowed_origins == ("http://127.0.0.1:8787",)


@pytest.mark.parametrize(("origin", "problem"), [("https://[::1", "unclosed ["), ("https://a\uff03b", "not a valid")])
def test_config_allowed_origins_reject_a_host_that_is_not_one(origin: str, problem: str) -> None:
    assert problem in _error(allowedOrigins=[origin])


def test_config_allowed_origins_reject_a_path() -> None:
    assert "no path" in _error(allowedOrigins=["https://blog.example.com/posts"])


def test_config_throttling_rejects_a_non_positive_burst() -> None:
    message = _error(throttling={"burstLimit": 0, "rateLimit": 50})
    assert message.startswith("blog-analytics:throttling: burstLimit")


def test_config_throttling_rejects_a_missing_rate() -> None:
    assert "rateLimit must be a positive number" in _error(throttling={"burstLimit": 10})


def test_config_throttling_rejects_a_rate_that_is_not_a_number() -> None:
    """JSON's NaN passed the hand-written `rate <= 0` check and would have reached the stage."""
    raw = {k: json.dumps(v) for k, v in VALID.items()} | {"throttling": '{"burstLimit": 10, "rateLimit": NaN}'}
    with pytest.raises(ConfigError, match="rateLimit must be a positive number, got nan"):
        parse_config(raw.get)


def test_config_log_retention_must_be_a_cloudwatch_value() -> None:
    assert _error(logRetentionDays=10).startswith("blog-analytics:logRetentionDays: must be one of")


def test_config_batching_values_are_read() -> None:
    batching = _parse(batching={"batchSize": 50, "batchingWindowSeconds": 5, "maximumConcurrency": 20}).batching
    assert batching == Batching(batch_size=50, batching_window_seconds=5, maximum_concurrency=20)


def test_config_batching_rejects_concurrency_below_two() -> None:
    assert "maximumConcurrency must be an integer from 2 to 1000" in _error(batching={"maximumConcurrency": 1})


def test_config_batching_rejects_a_batch_size_out_of_range() -> None:
    assert "batchSize must be an integer from 1 to 10000" in _error(batching={"batchSize": 0})


def test_config_batching_rejects_large_batches_without_a_window() -> None:
    assert "needs batchingWindowSeconds" in _error(batching={"batchSize": 100, "batchingWindowSeconds": 0})


def test_config_batching_rejects_unknown_fields() -> None:
    assert "unknown field" in _error(batching={"batchsize": 10})


def test_config_page_rules_are_parsed_with_the_handlers_parser() -> None:
    rules = [{"path": "/", "match": "exact", "page": "Home_Page", "eventType": "homepage_view"}]
    assert _parse(pageRules=rules).page_rules == (PageRule("/", "exact", "Home_Page", "homepage_view"),)


def test_config_page_rules_errors_name_the_key() -> None:
    message = _error(pageRules=[{"path": "no-slash", "match": "exact", "page": "X", "eventType": "homepage_view"}])
    assert message.startswith("blog-analytics:pageRules:")
    assert "path" in message


def test_config_protect_must_be_a_boolean() -> None:
    assert _error(protect="yes").startswith("blog-analytics:protect: must be true or false")


def test_config_access_logs_must_be_a_boolean() -> None:
    assert _parse(accessLogs=True).access_logs is True
    assert _error(accessLogs="on").startswith("blog-analytics:accessLogs: must be true or false")


def test_config_alerts_absent_means_no_alerts() -> None:
    assert _parse().alerts is None


def test_config_alerts_read_with_views_per_hour_defaulting_to_alarms_only() -> None:
    assert _parse(alerts={"email": "owner@example.com", "viewsPerHour": 500}).alerts == Alerts("owner@example.com", 500)
    assert _parse(alerts={"email": "owner@example.com"}).alerts == Alerts("owner@example.com", 0)


@pytest.mark.parametrize(
    ("alerts", "problem"),
    [
        (
            {"email": "not an address"},
            "email must be an e-mail address such as owner@example.com, got 'not an address'",
        ),
        ({"viewsPerHour": 5}, "email must be an e-mail address such as owner@example.com, got None"),
        ({"email": "owner@example.com", "viewsPerHour": -1}, "viewsPerHour must be an integer from 0 to 100000000"),
        ({"email": "owner@example.com", "viewsPerHour": "5"}, "viewsPerHour must be an integer"),
        ({"email": "owner@example.com", "sms": "+1"}, "unknown field(s) ['sms']"),
        ("owner@example.com", "must be an object with email"),
    ],
)
def test_config_alerts_errors_name_the_key(alerts: Any, problem: str) -> None:
    message = _error(alerts=alerts)
    assert message.startswith("blog-analytics:alerts: ") and problem in message
    assert "blog-analytics:alerts: {email: owner@example.com, viewsPerHour: 500}" in message
