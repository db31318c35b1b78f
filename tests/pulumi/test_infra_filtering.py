"""What the stack filters: its settings, how they reach the functions, and the refusal metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.stack_graph import LOG_GROUP, RunStack, StackGraph
from test_infra_program import _stack_file

from components.config import ConfigError, parse_config
from components.filtered_metrics import filter_pattern
from handlers.filtered import EVENTS, METRIC, REASON_DIMENSION, REASONS, SOURCES, Reason, filtered, reason_of
from handlers.referrer_spam import parse_spam_hosts
from handlers.wiring import ENV_POST_SECRETS, ENV_REFERRER_SPAM, WIRING

VALID: dict[str, Any] = {
    "allowedOrigins": ["https://blog.example.com"],
    "throttling": {"burstLimit": 100, "rateLimit": 50},
    "logRetentionDays": 30,
}


def _parse(**changes: Any) -> Any:
    raw = {k: json.dumps(v) for k, v in {**VALID, **changes}.items()}
    return parse_config(raw.get)


def test_config_referrer_spam_defaults_to_none_and_is_normalised() -> None:
    assert _parse().referrer_spam == ()
    assert _parse(referrerSpam=["Semalt.COM", "semalt.com", "bücher.example"]).referrer_spam == (
        "semalt.com",
        "xn--bcher-kva.example",
    )


@pytest.mark.parametrize("bad", ["semalt.com", ["https://semalt.com/"], [3], [f"s{i}.example" for i in range(300)]])
def test_config_referrer_spam_errors_name_the_key_and_show_an_example(bad: Any) -> None:
    with pytest.raises(ConfigError) as failure:
        _parse(referrerSpam=bad)
    message = str(failure.value)
    assert message.startswith("blog-analytics:referrerSpam: ") and "referrerSpam: [semalt.com" in message


def test_function_referrer_spam_reaches_only_the_views_function(run_stack: RunStack, tmp_path: Path) -> None:
    graph = run_stack("stage", _stack_file(tmp_path, "stage", referrerSpam=["semalt.com"]))
    for spec in WIRING.functions:
        variables = graph.function(spec.name)["environment"]["variables"]
        if spec.name == "views":
            assert parse_spam_hosts(variables[ENV_REFERRER_SPAM]) == {"semalt.com"}
        else:
            assert ENV_REFERRER_SPAM not in variables, spec.name


def test_function_referrer_spam_unset_is_an_empty_list(stage: StackGraph) -> None:
    assert json.loads(stage.function("views")["environment"]["variables"][ENV_REFERRER_SPAM]) == []


SECRET = "s" * 43


def test_config_signed_posts_need_a_secret_and_never_echo_it() -> None:
    with pytest.raises(ConfigError, match="postSigningSecret: required when signedPosts is true"):
        _parse(signedPosts=True)
    with pytest.raises(ConfigError) as failure:
        _parse(signedPosts=True, postSigningSecret="too-short-secret")
    assert "too-short-secret" not in str(failure.value)
    assert _parse(signedPosts=True, postSigningSecret=SECRET).post_signing_secrets == (SECRET,)
    assert _parse(postSigningSecret=SECRET).post_signing_secrets == (), "off unless signedPosts"


def test_function_signing_secrets_reach_only_the_views_function(run_stack: RunStack, tmp_path: Path) -> None:
    config = _stack_file(
        tmp_path, "stage", signedPosts=True, postSigningSecret=SECRET, postSigningSecretPrevious="p" * 40
    )
    graph = run_stack("stage", config)
    for spec in WIRING.functions:
        variables = graph.function(spec.name)["environment"]["variables"]
        if spec.name == "views":
            assert json.loads(variables[ENV_POST_SECRETS]) == [SECRET, "p" * 40]
            assert "environment" in graph.function(spec.name).secret_inputs, "a Pulumi secret in the state"
        else:
            assert ENV_POST_SECRETS not in variables, spec.name


def test_function_signing_off_by_default(stage: StackGraph) -> None:
    assert json.loads(stage.function("views")["environment"]["variables"][ENV_POST_SECRETS]) == []


METRIC_FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"


def test_refusal_metric_filter_per_reason_on_the_log_group_of_the_function_that_logs_it(stage: StackGraph) -> None:
    filters = {f["pattern"]: f for f in stage.of_type(METRIC_FILTER)}
    assert len(filters) == len(REASONS)
    log_groups = {g["name"] for g in stage.of_type(LOG_GROUP)}
    for reason in REASONS:
        found = filters[f'{{ $.event = "{EVENTS[reason]}" && $.reason = "{reason}" }}']
        function = stage.function(SOURCES[reason])
        assert found["logGroupName"] == f"/aws/lambda/{function['name']}", reason
        assert found["logGroupName"] in log_groups, f"{reason}: the function's own log group"
        transformation = found["metricTransformation"]
        assert transformation["name"] == METRIC and transformation["namespace"] == "blog-analytics/stage"
        assert transformation["dimensions"] == {REASON_DIMENSION: "$.reason"} and transformation["value"] == "1"
    assert stage.outputs["refusalMetricsNamespace"] == "blog-analytics/stage"


def test_refusal_metric_filters_wait_for_the_log_groups(stage: StackGraph) -> None:
    """A filter on a log group that does not exist yet fails the deploy."""
    for found in stage.of_type(METRIC_FILTER):
        group = stage.where(LOG_GROUP, name=found["logGroupName"])
        ancestors, urn = [], group.urn
        while urn:  # the group itself, its function component, the gateway ...
            ancestors.append(urn)
            urn = stage.by_urn(urn).parent if any(r.urn == urn for r in stage.resources) else ""
        assert set(ancestors) & set(found.dependencies), found["name"]


@pytest.mark.parametrize("reason", REASONS)
def test_refusal_pattern_matches_its_reasons_log_line(reason: Reason, capsys: pytest.CaptureFixture[str]) -> None:
    """The handlers' own line, read the way the JSON pattern reads it: event and reason."""
    filtered(reason)
    [line] = capsys.readouterr().out.splitlines()
    assert reason_of(line) == reason
    record = json.loads(line)
    matched = [r for r in REASONS if record["event"] == EVENTS[r] and record["reason"] == r]
    assert matched == [reason] and filter_pattern(reason).count("&&") == 1
