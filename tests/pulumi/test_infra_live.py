"""Live counts under Pulumi mocks: the Connections table, the fan-out's mappings and pushes, the setting."""

from __future__ import annotations

from pathlib import Path

import yaml
from support.stack_graph import (
    FUNCTION,
    MAPPING,
    METRIC_ALARM,
    ROOT,
    ROUTE,
    ROUTE_RESPONSE,
    TABLE,
    RunStack,
    StackGraph,
)

from components.config import ConfigError, parse_config
from handlers.settings import settings_from
from handlers.wiring import (
    CONNECTIONS,
    DEFAULT_LIVE_INTERVAL_SECONDS,
    ENV_CONNECTIONS_ENDPOINT,
    ENV_LIVE_INTERVAL,
    LIVE_FUNCTIONS,
    SERIES_BATCHING_WINDOW_SECONDS,
    WIRING,
    triggered,
    with_live_interval,
)

LIVE_STREAMS = {"live-posts": "PostCountReader", "live-pages": "HomeAndProfile", "live-connections": "Connections"}


def _stack_file(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load((ROOT / "Pulumi.stage.yaml").read_text())
    data["config"].update({f"blog-analytics:{k}": v for k, v in changes.items()})
    path = tmp_path / "Pulumi.stage.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _mapping(graph: StackGraph, table: str) -> dict[str, object] | None:
    """The live fan-out's mapping on `table`'s stream (the series consumers read some too)."""
    found = [
        m
        for m in graph.of_type(MAPPING)
        if f"table/stage-{table}/stream/" in str(m["eventSourceArn"])
        and any(str(m["functionName"]).endswith(f"-{function}") for function in LIVE_FUNCTIONS)
    ]
    return found[0].inputs if found else None


def test_live_connections_table_streams_both_images_and_expires_by_ttl(stage: StackGraph) -> None:
    table = stage.where(TABLE, name=f"stage-{CONNECTIONS}")
    assert (table["hashKey"], table["rangeKey"]) == ("pk", "sk")
    assert table["streamViewType"] == "NEW_AND_OLD_IMAGES", "a REMOVE must say what the connection followed"
    assert table["ttl"] == {"attributeName": "expiresAt", "enabled": True}


def test_live_each_stream_has_at_most_two_lambda_readers(stage: StackGraph) -> None:
    for table in {s.table for s in WIRING.streams}:
        readers = [m for m in stage.of_type(MAPPING) if f"table/stage-{table}/stream/" in str(m["eventSourceArn"])]
        assert len(readers) <= 2, table


def test_live_watch_route_replies_through_a_route_response(stage: StackGraph) -> None:
    route = stage.where(ROUTE, routeKey="watch")
    assert route["routeResponseSelectionExpression"] == "$default"
    assert [r for r in stage.of_type(ROUTE_RESPONSE) if r["routeId"] == f"{route.name}-id"]


def test_live_mappings_batch_for_the_default_interval(stage: StackGraph) -> None:
    for function, table in LIVE_STREAMS.items():
        mapping = _mapping(stage, table)
        assert mapping is not None, table
        assert str(mapping["functionName"]).endswith(f"-{function}"), table
        assert mapping["maximumBatchingWindowInSeconds"] == DEFAULT_LIVE_INTERVAL_SECONDS, table
        assert mapping["bisectBatchOnFunctionError"] is True
        assert "onFailure" in mapping["destinationConfig"]  # type: ignore[operator]


def test_live_mappings_start_at_the_latest_record_and_the_others_at_the_oldest(stage: StackGraph) -> None:
    for mapping in stage.of_type(MAPPING):
        if "/stream/" not in str(mapping["eventSourceArn"]):
            continue
        live = any(str(mapping["functionName"]).endswith(f"-{f}") for f in LIVE_FUNCTIONS)
        assert mapping["startingPosition"] == ("LATEST" if live else "TRIM_HORIZON"), mapping["functionName"]


def test_live_functions_push_to_this_stage_with_the_interval(stage: StackGraph) -> None:
    for function in LIVE_FUNCTIONS:
        env = stage.where(FUNCTION, name=f"blog-analytics-stage-{function}")["environment"]["variables"]
        assert env[ENV_CONNECTIONS_ENDPOINT] == "https://websocket-api-id.execute-api.eu-west-1.amazonaws.com/stage"
        assert env[ENV_LIVE_INTERVAL] == str(DEFAULT_LIVE_INTERVAL_SECONDS)
        assert settings_from(env).live_interval_seconds == DEFAULT_LIVE_INTERVAL_SECONDS


def test_live_interval_sets_the_batching_window(run_stack: RunStack, tmp_path: Path) -> None:
    graph = run_stack("stage", _stack_file(tmp_path, liveIntervalSeconds=10))
    for table in LIVE_STREAMS.values():
        mapping = _mapping(graph, table)
        assert mapping is not None and mapping["maximumBatchingWindowInSeconds"] == 10, table


def test_live_interval_zero_builds_no_live_counts(run_stack: RunStack, tmp_path: Path) -> None:
    alerts = {"email": "owner@example.com", "viewsPerHour": 500}  # for the alarms
    graph = run_stack("stage", _stack_file(tmp_path, liveIntervalSeconds=0, alerts=alerts))
    assert all(_mapping(graph, table) is None for table in LIVE_STREAMS.values()), "no fan-out reads any stream"
    functions = {str(f["name"]) for f in graph.of_type(FUNCTION)}
    gone = {f"blog-analytics-stage-{name}" for name in (*LIVE_FUNCTIONS, "disconnect")}
    assert functions & gone == set(), "nothing deployed that nothing invokes"
    assert "$disconnect" not in {r["routeKey"] for r in graph.of_type(ROUTE)}
    alarmed = {
        str(a["dimensions"]["FunctionName"]) for a in graph.of_type(METRIC_ALARM) if "FunctionName" in a["dimensions"]
    }
    assert alarmed and alarmed <= functions, "no alarm watches a function that is not there"
    for name in ("views", "watch"):
        env = graph.where(FUNCTION, name=f"blog-analytics-stage-{name}")["environment"]["variables"]
        assert env[ENV_LIVE_INTERVAL] == "0", name
        assert not settings_from(env).live_counts, name


def test_live_interval_zero_with_a_views_budget_keeps_disconnect(run_stack: RunStack, tmp_path: Path) -> None:
    graph = run_stack("stage", _stack_file(tmp_path, liveIntervalSeconds=0, viewsPerConnection=50))
    assert "$disconnect" in {r["routeKey"] for r in graph.of_type(ROUTE)}, "the budget's item goes when the socket does"
    assert {str(f["name"]) for f in graph.of_type(FUNCTION)} >= {"blog-analytics-stage-disconnect"}
    assert all(_mapping(graph, table) is None for table in LIVE_STREAMS.values())


def test_live_interval_default_reaches_the_replying_functions(stage: StackGraph) -> None:
    for name in ("views", "watch"):
        env = stage.where(FUNCTION, name=f"blog-analytics-stage-{name}")["environment"]["variables"]
        assert settings_from(env).live_counts and env[ENV_LIVE_INTERVAL] == str(DEFAULT_LIVE_INTERVAL_SECONDS), name
    assert {r["routeKey"] for r in stage.of_type(ROUTE)} >= {"$connect", "$disconnect", "views", "watch"}


def test_live_interval_setting_is_typed_and_bounded() -> None:
    base = {
        "allowedOrigins": '["https://blog.example.com"]',
        "throttling": '{"burstLimit": 10, "rateLimit": 5}',
        "logRetentionDays": "30",
    }
    assert parse_config(base.get).live_interval_seconds == DEFAULT_LIVE_INTERVAL_SECONDS
    assert parse_config({**base, "liveIntervalSeconds": "0"}.get).live_interval_seconds == 0
    for bad in ("-1", "301", "true", "2.5", '"5"'):
        try:
            parse_config({**base, "liveIntervalSeconds": bad}.get)
        except ConfigError as exc:
            assert "blog-analytics:liveIntervalSeconds" in str(exc), bad
        else:
            raise AssertionError(f"liveIntervalSeconds {bad} was accepted")


def test_live_with_interval_keeps_other_streams_untouched() -> None:
    off = with_live_interval(WIRING, 0)
    assert [s for s in off.streams if s.function in LIVE_FUNCTIONS] == []
    assert off.streams == tuple(s for s in WIRING.streams if s.function not in LIVE_FUNCTIONS), "only live mappings go"
    assert [r.route_key for r in off.routes] == [r.route_key for r in WIRING.routes if r.route_key != "$disconnect"]
    assert {f.name for f in WIRING.functions} - {f.name for f in off.functions} == {*LIVE_FUNCTIONS, "disconnect"}
    budget = with_live_interval(WIRING, 0, views_budget=True)
    assert [r.route_key for r in budget.routes] == [r.route_key for r in WIRING.routes]
    assert {f.name for f in WIRING.functions} - {f.name for f in budget.functions} == set(LIVE_FUNCTIONS)
    # Live counts off: views only counts the budget on Connections, watch does not touch it.
    assert [g.actions for g in off.function("views").tables if g.table == CONNECTIONS] == [("dynamodb:UpdateItem",)]
    assert [g for g in off.function("watch").tables if g.table == CONNECTIONS] == []
    on = {f.name: f for f in with_live_interval(WIRING, 7).functions}
    assert on["views"] == WIRING.function("views") and on["watch"] == WIRING.function("watch")
    assert {f.name for f in off.functions} == triggered(off) and triggered(WIRING) == {f.name for f in WIRING.functions}
    windows = {s.function: s.maximum_batching_window_seconds for s in with_live_interval(WIRING, 7).streams}
    assert {f: windows[f] for f in LIVE_FUNCTIONS} == dict.fromkeys(LIVE_FUNCTIONS, 7)
    assert windows["replicate"] == 0 and windows["series-posts"] == SERIES_BATCHING_WINDOW_SECONDS
    assert with_live_interval(WIRING, 7)._replace(streams=WIRING.streams) == WIRING, "on: only the windows change"
