"""The whole program under Pulumi's mocks: the resource graph each stack would deploy."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from run_program import stack_config
from support.stack_graph import (
    ACCOUNT,
    API,
    DEPLOYMENT,
    FUNCTION,
    INTEGRATION,
    LAYER,
    LOG_GROUP,
    MAPPING,
    PERMISSION,
    QUEUE,
    QUEUE_POLICY,
    ROLE,
    ROLE_POLICY_ATTACHMENT,
    ROOT,
    ROUTE,
    ROUTE_RESPONSE,
    STAGE,
    SUBSCRIPTION,
    TABLE,
    TOPIC,
    ProgramFailed,
    RunStack,
    StackGraph,
)

from components.config import parse_config
from handlers.pages import parse_page_rules
from handlers.wiring import ENV_ENDPOINT_URL, ENV_STACK, WIRING

_STAGE_VALUES = stack_config(ROOT / "Pulumi.stage.yaml")
STAGE_CONFIG = parse_config(lambda key: _STAGE_VALUES.get(f"blog-analytics:{key}"))


def _stack_file(tmp_path: Path, stack: str, **changes: object) -> Path:
    """A copy of Pulumi.<stack>.yaml with keys changed (None removes a key)."""
    data = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    for key, value in changes.items():
        full = f"blog-analytics:{key}"
        if value is None:
            data["config"].pop(full, None)
        else:
            data["config"][full] = value
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _queue(graph: StackGraph, name: str) -> dict[str, Any]:
    return graph.where(QUEUE, name=f"blog-analytics-{_stack_of(graph)}-{name}").inputs


def _stack_of(graph: StackGraph) -> str:
    name: str = graph.of_type(STAGE)[0]["name"]
    return name


# --- WebSocketGateway -------------------------------------------------------------------


def test_gateway_api_is_websocket_with_wiring_route_selection(stack: StackGraph) -> None:
    (api,) = stack.of_type(API)
    assert api["protocolType"] == "WEBSOCKET"
    assert api["routeSelectionExpression"] == WIRING.route_selection_expression == "$request.body.message"


def test_gateway_every_route_targets_a_proxy_integration_of_its_function(stack: StackGraph) -> None:
    routes = {r["routeKey"]: r for r in stack.of_type(ROUTE)}
    assert set(routes) == {spec.route_key for spec in WIRING.routes}
    for spec in WIRING.routes:
        integration_id = routes[spec.route_key]["target"].removeprefix("integrations/")
        integration = next(i for i in stack.of_type(INTEGRATION) if f"{i.name}-id" == integration_id)
        function = stack.function(spec.function)
        assert integration["integrationType"] == "AWS_PROXY", spec.route_key
        assert integration["integrationMethod"] == "POST", spec.route_key
        assert integration["integrationUri"].endswith(f"function:{function['name']}/invocations"), spec.route_key


def test_gateway_replying_routes_have_a_default_route_response(stack: StackGraph) -> None:
    responses = {r["routeId"]: r for r in stack.of_type(ROUTE_RESPONSE)}
    for route in stack.of_type(ROUTE):
        spec = WIRING.route(route["routeKey"])
        assert spec is not None
        if spec.replies:
            assert route.get("routeResponseSelectionExpression") == "$default", route["routeKey"]
            assert responses[f"{route.name}-id"]["routeResponseKey"] == "$default", route["routeKey"]
        else:
            assert route.get("routeResponseSelectionExpression") is None, route["routeKey"]
            assert f"{route.name}-id" not in responses, route["routeKey"]


def test_gateway_deployment_depends_on_every_route_and_route_response(stack: StackGraph) -> None:
    (deployment,) = stack.of_type(DEPLOYMENT)
    needed = {r.urn for r in stack.of_type(ROUTE) + stack.of_type(ROUTE_RESPONSE)}
    assert needed <= set(deployment.dependencies), "a redeploy could snapshot the API before its routes exist"


def test_gateway_deployment_has_a_redeployment_trigger_hash(stack: StackGraph) -> None:
    (deployment,) = stack.of_type(DEPLOYMENT)
    assert re.fullmatch(r"[0-9a-f]{64}", deployment["triggers"]["redeployment"])


def test_gateway_stage_is_named_after_the_stack_and_uses_this_deployment(stack: StackGraph) -> None:
    (stage,) = stack.of_type(STAGE)
    (deployment,) = stack.of_type(DEPLOYMENT)
    assert stage["name"] in ("stage", "prod")
    assert stage["deploymentId"] == f"{deployment.name}-id"
    assert not stage.get("autoDeploy")


def test_gateway_stage_throttling_comes_from_config(stage: StackGraph) -> None:
    (resource,) = stage.of_type(STAGE)
    settings = resource["defaultRouteSettings"]
    assert settings["throttlingBurstLimit"] == STAGE_CONFIG.throttling.burst_limit
    assert settings["throttlingRateLimit"] == STAGE_CONFIG.throttling.rate_limit


def test_gateway_shipped_stacks_deploy_on_a_fresh_account_without_access_logs(stack: StackGraph) -> None:
    """The fixtures run on a fresh account (no API Gateway CloudWatch role), as a new blog owner's is."""
    (stage,) = stack.of_type(STAGE)
    assert stage.get("accessLogSettings") is None
    assert [g["name"] for g in stack.of_type(LOG_GROUP) if g["name"].startswith("/aws/apigateway/")] == []
    assert stack.of_type(ACCOUNT) == []


def test_gateway_access_logs_on_a_fresh_account_fail_like_aws_without_the_role(
    run_stack: RunStack, tmp_path: Path
) -> None:
    with pytest.raises(ProgramFailed, match="CloudWatch Logs role ARN must be set in account settings"):
        run_stack("stage", _stack_file(tmp_path, "stage", accessLogs=True))


def test_gateway_access_logs_use_an_account_role_that_is_already_set(run_stack: RunStack, tmp_path: Path) -> None:
    graph = run_stack("prod", _stack_file(tmp_path, "prod", accessLogs=True), account_role_set=True)
    (stage,) = graph.of_type(STAGE)
    assert stage["accessLogSettings"]["destinationArn"].endswith(
        ":log-group:/aws/apigateway/blog-analytics-prod-websocket"
    )
    assert graph.of_type(ACCOUNT) == [], "the account's role belongs to whoever set it"


def test_gateway_access_logs_are_json_without_source_ip_or_connection_id(run_stack: RunStack, tmp_path: Path) -> None:
    stack = run_stack("stage", _stack_file(tmp_path, "stage", accessLogs=True, createApiGatewayAccount=True))
    (stage,) = stack.of_type(STAGE)
    settings = stage["accessLogSettings"]
    fields = json.loads(settings["format"])
    assert "routeKey" in fields and "status" in fields
    assert "sourceIp" not in settings["format"]
    assert "connectionId" not in settings["format"]
    assert "userAgent" not in settings["format"]
    log_group_name = settings["destinationArn"].split(":log-group:", 1)[1]
    assert stack.where(LOG_GROUP, name=log_group_name)["retentionInDays"] > 0


def test_gateway_execution_logging_and_data_trace_are_off(stack: StackGraph) -> None:
    (stage,) = stack.of_type(STAGE)
    assert stage["defaultRouteSettings"]["loggingLevel"] == "OFF"
    assert stage["defaultRouteSettings"]["dataTraceEnabled"] is False


def test_gateway_lambda_permissions_are_scoped_to_this_api(stack: StackGraph) -> None:
    (api,) = stack.of_type(API)
    execution_arn = f"arn:aws:execute-api:eu-west-1:123456789012:{api.name}-id"
    permissions = {p["function"]: p for p in stack.of_type(PERMISSION)}
    for function_name in {spec.function for spec in WIRING.routes}:
        permission = permissions[stack.function(function_name)["name"]]
        assert permission["principal"] == "apigateway.amazonaws.com"
        assert permission["action"] == "lambda:InvokeFunction"
        assert permission["sourceArn"] == f"{execution_arn}/*/*"
    assert len(permissions) == len({spec.function for spec in WIRING.routes})


def test_gateway_websocket_url_is_exported_from_the_stage(stack: StackGraph) -> None:
    (stage,) = stack.of_type(STAGE)
    assert stack.outputs["websocketUrl"].startswith("wss://")
    assert stack.outputs["websocketUrl"].endswith(f"/{stage['name']}")


def test_gateway_account_role_is_not_created_by_default(stack: StackGraph) -> None:
    assert stack.of_type(ACCOUNT) == []


def test_gateway_account_role_is_created_when_configured(run_stack: RunStack, tmp_path: Path) -> None:
    """On a fresh account, access logs deploy once this stack sets the role, and the stage waits for it."""
    graph = run_stack("stage", _stack_file(tmp_path, "stage", accessLogs=True, createApiGatewayAccount=True))
    (account,) = graph.of_type(ACCOUNT)
    (attachment,) = graph.of_type(ROLE_POLICY_ATTACHMENT)
    (stage,) = graph.of_type(STAGE)
    assert attachment["policyArn"].endswith("service-role/AmazonAPIGatewayPushToCloudWatchLogs")
    assert account.urn in stage.dependencies, "stage logging fails until the account role is set"


# --- ViewEventBus -----------------------------------------------------------------------


def test_bus_topic_is_encrypted_with_the_aws_managed_key(stack: StackGraph) -> None:
    (topic,) = stack.of_type(TOPIC)
    assert topic["kmsMasterKeyId"] == "alias/aws/sns"


def test_bus_every_queue_is_subscribed_with_its_filter_policy_and_raw_delivery(stack: StackGraph) -> None:
    (topic,) = stack.of_type(TOPIC)
    stack_name = _stack_of(stack)
    for spec in WIRING.queues:
        queue_arn = f"arn:aws:sqs:eu-west-1:123456789012:blog-analytics-{stack_name}-{spec.name}"
        subscription = stack.where(SUBSCRIPTION, endpoint=queue_arn)
        assert subscription["protocol"] == "sqs"
        assert subscription["topic"].endswith(topic["name"])
        assert json.loads(subscription["filterPolicy"]) == spec.filter_policy, spec.name
        assert subscription["rawMessageDelivery"] is True, spec.name


def test_bus_subscriptions_wait_for_their_queue_policy(stack: StackGraph) -> None:
    policies = {p.urn for p in stack.of_type(QUEUE_POLICY)}
    for subscription in stack.of_type(SUBSCRIPTION):
        assert policies & set(subscription.dependencies), f"{subscription.name} may deliver before SNS is allowed"


def test_bus_every_queue_redrives_to_its_dlq_after_the_spec_receive_count(stack: StackGraph) -> None:
    for spec in WIRING.queues:
        queue = _queue(stack, spec.name)
        dlq = _queue(stack, f"{spec.name}-dlq")
        redrive = json.loads(queue["redrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f":{dlq['name']}"), spec.name
        assert redrive["maxReceiveCount"] == spec.max_receive_count, spec.name


def test_bus_every_queue_is_encrypted(stack: StackGraph) -> None:
    unencrypted = [q["name"] for q in stack.of_type(QUEUE) if q.get("sqsManagedSseEnabled") is not True]
    assert unencrypted == []


def test_bus_queue_policy_admits_only_sns_from_this_topic(stack: StackGraph) -> None:
    (topic,) = stack.of_type(TOPIC)
    topic_arn = f"arn:aws:sns:eu-west-1:123456789012:{topic['name']}"
    assert len(stack.of_type(QUEUE_POLICY)) == len(WIRING.queues)
    for policy in stack.of_type(QUEUE_POLICY):
        (statement,) = json.loads(policy["policy"])["Statement"]
        assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": topic_arn}}
        assert policy["queueUrl"].endswith(statement["Resource"].rsplit(":", 1)[1])


def test_bus_mappings_report_batch_item_failures_with_configured_batching(stage: StackGraph) -> None:
    for spec in WIRING.queues:
        queue_arn = f"arn:aws:sqs:eu-west-1:123456789012:blog-analytics-stage-{spec.name}"
        mapping = stage.where(MAPPING, eventSourceArn=queue_arn)
        assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"], spec.name
        assert mapping["batchSize"] == STAGE_CONFIG.batching.batch_size, spec.name
        assert mapping["maximumBatchingWindowInSeconds"] == STAGE_CONFIG.batching.batching_window_seconds
        assert mapping["scalingConfig"]["maximumConcurrency"] == STAGE_CONFIG.batching.maximum_concurrency
        assert mapping["functionName"].endswith(f"function:blog-analytics-stage-{spec.function}"), spec.name


def test_bus_batching_defaults_to_the_wiring_spec_without_config(run_stack: RunStack, tmp_path: Path) -> None:
    graph = run_stack("stage", _stack_file(tmp_path, "stage", batching=None))
    for spec in WIRING.queues:
        mapping = graph.where(
            MAPPING, eventSourceArn=f"arn:aws:sqs:eu-west-1:123456789012:blog-analytics-stage-{spec.name}"
        )
        assert mapping["batchSize"] == spec.batch_size
        assert mapping["maximumBatchingWindowInSeconds"] == spec.max_batching_window_seconds
        assert 2 <= mapping["scalingConfig"]["maximumConcurrency"] <= 1000


def test_bus_visibility_timeout_is_at_least_six_times_the_consumer_timeout(stack: StackGraph) -> None:
    for spec in WIRING.queues:
        timeout = stack.function(spec.function)["timeout"]
        assert _queue(stack, spec.name)["visibilityTimeoutSeconds"] >= 6 * timeout, spec.name


# --- CountStore -------------------------------------------------------------------------


def test_store_holds_only_tables_and_stream_consumers_are_built_apart(stack: StackGraph) -> None:
    """A table outlives the code that reads it: the store's component holds no function."""
    [store] = stack.of_type("blog-analytics:index:CountStore")
    assert {r.type for r in stack.children_of(store.urn)} == {TABLE}, "functions inside the tables' component"
    [consumers] = stack.of_type("blog-analytics:index:StreamConsumers")
    built = {r.name for r in stack.children_of(consumers.urn) if r.type == "blog-analytics:index:HandlerFunction"}
    readers = {s.function for s in WIRING.streams} | {s.repair.function for s in WIRING.streams if s.repair}
    assert built == {f"streams-{name}" for name in readers}


def test_store_tables_are_named_by_stack_on_demand_and_encrypted(stack: StackGraph) -> None:
    stack_name = _stack_of(stack)
    tables = {t["name"]: t for t in stack.of_type(TABLE)}
    assert set(tables) == {f"{stack_name}-{spec.name}" for spec in WIRING.tables}
    for spec in WIRING.tables:
        table = tables[f"{stack_name}-{spec.name}"]
        assert table["billingMode"] == "PAY_PER_REQUEST", spec.name
        assert table["serverSideEncryption"]["enabled"] is True, spec.name
        assert table["hashKey"] == spec.hash_key, spec.name
        assert table.get("rangeKey") == spec.range_key, spec.name


def test_store_ttl_and_streams_follow_the_wiring_table(stack: StackGraph) -> None:
    stack_name = _stack_of(stack)
    for spec in WIRING.tables:
        table = stack.where(TABLE, name=f"{stack_name}-{spec.name}")
        if spec.ttl_attribute:
            assert table["ttl"] == {"attributeName": spec.ttl_attribute, "enabled": True}, spec.name
        else:
            assert table.get("ttl") is None, spec.name
        assert bool(table.get("streamEnabled")) is spec.stream, spec.name
        assert table.get("streamViewType") == (spec.stream_view if spec.stream else None), spec.name


def test_store_prod_tables_are_protected(prod: StackGraph) -> None:
    for table in prod.of_type(TABLE):
        assert table["deletionProtectionEnabled"] is True, table["name"]
        assert table["pointInTimeRecovery"]["enabled"] is True, table["name"]
        assert table.protect, f"{table['name']}: pulumi destroy must refuse"


def test_store_stage_tables_are_not_protected(stage: StackGraph) -> None:
    for table in stage.of_type(TABLE):
        assert table["deletionProtectionEnabled"] is False, table["name"]
        assert table["pointInTimeRecovery"]["enabled"] is False, table["name"]
        assert not table.protect, table["name"]


def test_store_stream_mapping_has_bounded_retries_bisect_and_an_on_failure_queue(stack: StackGraph) -> None:
    stack_name = _stack_of(stack)
    for spec in WIRING.streams:
        writer = f"table/{stack_name}-{spec.table}/stream/"
        (mapping,) = [
            m
            for m in stack.of_type(MAPPING)
            if writer in m["eventSourceArn"]
            and m["functionName"].endswith(f"function:blog-analytics-{stack_name}-{spec.function}")
        ]
        assert mapping.get("maximumBatchingWindowInSeconds") == (spec.maximum_batching_window_seconds or None)
        assert mapping["startingPosition"] in ("LATEST", "TRIM_HORIZON")
        assert mapping["bisectBatchOnFunctionError"] is True
        assert mapping["maximumRetryAttempts"] == spec.maximum_retry_attempts >= 0
        assert mapping["maximumRecordAgeInSeconds"] == spec.maximum_record_age_seconds > 0
        assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
        destination = mapping["destinationConfig"]["onFailure"]["destinationArn"]
        failure_queue = destination.rsplit(":", 1)[1]
        assert stack.where(QUEUE, name=failure_queue)["sqsManagedSseEnabled"] is True


def test_store_on_failure_queue_is_drained_by_its_repair_function(stack: StackGraph) -> None:
    stack_name = _stack_of(stack)
    repaired = [spec for spec in WIRING.streams if spec.repair is not None]
    assert repaired, "replicate's skipped records must be repaired, not parked"
    for spec in repaired:
        assert spec.repair is not None
        repair = WIRING.function(spec.repair.function)
        queue = _queue(stack, spec.failure_queue)
        redrive = json.loads(queue["redrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f":blog-analytics-{stack_name}-{spec.failure_queue}-dlq")
        assert redrive["maxReceiveCount"] == spec.repair.max_receive_count
        assert queue["visibilityTimeoutSeconds"] >= 6 * repair.timeout_seconds
        assert _queue(stack, f"{spec.failure_queue}-dlq")["sqsManagedSseEnabled"] is True
        (mapping,) = [m for m in stack.of_type(MAPPING) if m["eventSourceArn"].endswith(f"-{spec.failure_queue}")]
        assert mapping["functionName"].endswith(f"function:blog-analytics-{stack_name}-{repair.name}")
        assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["batchSize"] == spec.repair.batch_size


def test_iam_repair_rereads_only_the_records_of_its_stream(stack: StackGraph) -> None:
    stack_name = _stack_of(stack)
    for spec in WIRING.streams:
        if spec.repair is None:
            continue
        statements = stack.statements(stack.function(spec.repair.function))
        stream_statements = [s for s in statements if any("/stream/" in r for r in s["Resource"])]
        assert [s["Action"] for s in stream_statements] == [["dynamodb:GetRecords", "dynamodb:GetShardIterator"]]
        (resource,) = stream_statements[0]["Resource"]
        assert f":table/{stack_name}-{spec.table}/stream/" in resource
        assert not any("sqs:SendMessage" in s["Action"] for s in statements), "repair never writes a queue"


def test_store_table_names_are_exported(stack: StackGraph) -> None:
    stack_name = _stack_of(stack)
    assert stack.outputs["tableNames"] == {spec.name: f"{stack_name}-{spec.name}" for spec in WIRING.tables}


# --- HandlerFunction and IAM ------------------------------------------------------------


def test_function_every_spec_runs_python312_arm64_with_its_handler_and_the_layer(stack: StackGraph) -> None:
    (layer,) = stack.of_type(LAYER)
    assert len(stack.of_type(FUNCTION)) == len(WIRING.functions)
    for spec in WIRING.functions:
        function = stack.function(spec.name)
        assert function["runtime"] == "python3.12", spec.name
        assert function["architectures"] == ["arm64"], spec.name
        assert function["handler"] == f"{spec.module}.handler", spec.name
        assert function["timeout"] == spec.timeout_seconds, spec.name
        assert function["memorySize"] == spec.memory_mb, spec.name
        assert function["layers"] == [f"arn:aws:lambda:eu-west-1:123456789012:layer:{layer['layerName']}:1"]
    assert layer["compatibleArchitectures"] == ["arm64"]
    assert layer["compatibleRuntimes"] == ["python3.12"]


def test_function_environment_is_the_stack_plus_exactly_the_spec_names(stack: StackGraph) -> None:
    for spec in WIRING.functions:
        variables = stack.function(spec.name)["environment"]["variables"]
        assert set(variables) == {ENV_STACK, *spec.env}, spec.name
        assert variables[ENV_STACK] == _stack_of(stack)
        assert ENV_ENDPOINT_URL not in variables, "the emulator endpoint must never reach AWS"


def test_function_environment_values_parse_as_the_handlers_expect(stage: StackGraph) -> None:
    variables = stage.function("views")["environment"]["variables"]
    assert json.loads(variables["ALLOWED_ORIGINS"]) == list(STAGE_CONFIG.allowed_origins)
    assert parse_page_rules(variables["PAGE_RULES"])
    assert variables["TOPIC_ARN"].startswith("arn:aws:sns:")


def test_function_page_rules_from_config_reach_every_function_that_names_pages(
    run_stack: RunStack, tmp_path: Path
) -> None:
    rules = [
        {"path": "/", "match": "exact", "page": "Start", "eventType": "homepage_view"},
        {"path": "/now", "match": "prefix", "page": "Now", "eventType": "profile_view"},
    ]
    graph = run_stack("stage", _stack_file(tmp_path, "stage", pageRules=rules))
    for name in ("views", "stats"):  # views counts them, stats answers them
        variables = graph.function(name)["environment"]["variables"]
        assert parse_page_rules(variables["PAGE_RULES"]) == parse_page_rules(json.dumps(rules)), name


def test_function_has_its_own_log_group_with_configured_retention(stage: StackGraph) -> None:
    for spec in WIRING.functions:
        function = stage.function(spec.name)
        log_group = stage.where(LOG_GROUP, name=f"/aws/lambda/{function['name']}")
        assert log_group["retentionInDays"] == STAGE_CONFIG.log_retention_days, spec.name
        assert log_group.urn in function.dependencies, f"{spec.name}: Lambda would create it without retention"


def test_function_logs_json_with_only_what_our_code_logs(stage: StackGraph) -> None:
    # System level WARN drops START, END and REPORT, billed per GB ingested; INFO keeps ours.
    for spec in WIRING.functions:
        function = stage.function(spec.name)
        config = function["loggingConfig"]
        assert config["logFormat"] == "JSON", f"{spec.name}: level filtering needs the JSON format"
        assert config["systemLogLevel"] == "WARN", f"{spec.name}: START/END/REPORT would be billed"
        assert config["applicationLogLevel"] == "INFO", f"{spec.name}: our info lines would be dropped"
        assert config["logGroup"] == f"/aws/lambda/{function['name']}", f"{spec.name}: logs go to its own group"


def test_iam_statements_name_no_wildcard_action_or_resource(stack: StackGraph) -> None:
    for spec in WIRING.functions:
        function = stack.function(spec.name)
        own_logs = f"log-group:/aws/lambda/{function['name']}:*"
        # Connection ids are known only at run time: the one other pattern is this stage's pushes.
        pushes = f":websocket-api-id/{_stack_of(stack)}/POST/@connections/*"
        for statement in stack.statements(function):
            assert statement["Effect"] == "Allow"
            for action in statement["Action"]:
                assert "*" not in action, f"{spec.name}: wildcard action {action}"
            for resource in statement["Resource"]:
                assert resource.startswith("arn:aws:"), f"{spec.name}: {resource}"
                allowed = resource.endswith(own_logs) or (spec.manages_connections and resource.endswith(pushes))
                assert "*" not in resource or allowed, f"{spec.name}: wildcard {resource}"


def test_iam_table_statements_match_the_wiring_grants_exactly(stack: StackGraph) -> None:
    stack_name = _stack_of(stack)
    for spec in WIRING.functions:
        granted = {
            (resource.rsplit("table/", 1)[1], action)
            for statement in stack.statements(stack.function(spec.name))
            for action in statement["Action"]
            if action.startswith("dynamodb:") and "/stream/" not in statement["Resource"][0]
            for resource in statement["Resource"]
        }
        expected = {(f"{stack_name}-{g.table}", a) for g in spec.tables for a in g.actions}
        assert granted == expected, spec.name


def test_iam_request_path_functions_never_scan(stack: StackGraph) -> None:
    for route in WIRING.routes:  # a route's cost must not grow with the number of items stored
        statements = stack.statements(stack.function(route.function))
        actions = {a for s in statements for a in s["Action"]}
        assert "dynamodb:Scan" not in actions, route.function
        # One Query is allowed: readingNow, within one target's partition of Connections
        # (its open readers), never across the table.
        queried = {r for s in statements if "dynamodb:Query" in s["Action"] for r in s["Resource"]}
        assert queried <= {f"arn:aws:dynamodb:eu-west-1:123456789012:table/{_stack_of(stack)}-Connections"}, route


def test_iam_stats_reads_by_key_only(stack: StackGraph) -> None:
    stack_name = _stack_of(stack)
    granted = {
        (resource.rsplit("table/", 1)[1], action)
        for statement in stack.statements(stack.function("stats"))
        for action in statement["Action"]
        if action.startswith("dynamodb:")
        for resource in statement["Resource"]
    }
    tables = ("PostCountReader", "HomeAndProfile", "TopPosts")
    assert granted == {(f"{stack_name}-{table}", "dynamodb:BatchGetItem") for table in tables}


def test_iam_only_publishing_functions_may_publish_to_the_topic(stack: StackGraph) -> None:
    (topic,) = stack.of_type(TOPIC)
    for spec in WIRING.functions:
        publish = [s for s in stack.statements(stack.function(spec.name)) if "sns:Publish" in s["Action"]]
        if spec.publishes:
            assert [s["Resource"] for s in publish] == [[f"arn:aws:sns:eu-west-1:123456789012:{topic['name']}"]]
        else:
            assert publish == [], spec.name


def test_iam_consumers_may_read_only_their_own_queue(stack: StackGraph) -> None:
    stack_name = _stack_of(stack)
    for spec in WIRING.functions:
        own = {f"arn:aws:sqs:eu-west-1:123456789012:blog-analytics-{stack_name}-{q.name}" for q in WIRING.queues
               if q.function == spec.name}  # fmt: skip
        own |= {f"arn:aws:sqs:eu-west-1:123456789012:blog-analytics-{stack_name}-{s.failure_queue}"
                for s in WIRING.streams if s.repair and s.repair.function == spec.name}  # fmt: skip
        receive = {
            resource
            for statement in stack.statements(stack.function(spec.name))
            if "sqs:ReceiveMessage" in statement["Action"]
            for resource in statement["Resource"]
        }
        assert receive == own, spec.name


def test_iam_no_managed_policies_on_function_roles(stack: StackGraph) -> None:
    for role in stack.of_type(ROLE):
        assert not role.get("managedPolicyArns"), role.name
    for attachment in stack.of_type(ROLE_POLICY_ATTACHMENT):
        assert "FullAccess" not in attachment["policyArn"], attachment.name


def test_iam_function_roles_trust_only_lambda(stack: StackGraph) -> None:
    for spec in WIRING.functions:
        role = stack.sibling(stack.function(spec.name), ROLE)
        (statement,) = json.loads(role["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}, spec.name


# --- the program as a whole -------------------------------------------------------------


def test_program_resource_names_are_unique(stack: StackGraph) -> None:
    urns = Counter(r.urn for r in stack.resources)
    names = Counter((r.type, r.name) for r in stack.resources)
    assert [u for u, n in urns.items() if n > 1] == []
    assert [k for k, n in names.items() if n > 1] == []


def test_program_physical_names_are_unique_per_type(stack: StackGraph) -> None:
    physical = Counter((r.type, r["name"]) for r in stack.resources if r.custom and isinstance(r.get("name"), str))
    assert [k for k, n in physical.items() if n > 1] == []


def test_program_every_aws_resource_belongs_to_a_component(stack: StackGraph) -> None:
    components = {r.urn for r in stack.resources if not r.custom}
    orphans = [r.name for r in stack.resources if r.custom and r.parent not in components]
    assert orphans == []


def test_program_children_are_named_after_their_component(stack: StackGraph) -> None:
    components = {r.urn: r.name for r in stack.resources if not r.custom}
    for resource in stack.resources:
        if resource.parent in components:
            assert resource.name.startswith(components[resource.parent] + "-"), resource.name


def test_program_code_and_layer_archives_are_stable_across_runs(run_stack: RunStack) -> None:
    # Two runs back to back (not against the session's graph, which may predate an edit).
    first, again = run_stack("stage"), run_stack("stage")
    assert again.function("views")["code"]["digest"] == first.function("views")["code"]["digest"]
    assert again.of_type(LAYER)[0]["code"]["digest"] == first.of_type(LAYER)[0]["code"]["digest"]


def test_program_code_archive_holds_every_wiring_handler_module(stage: StackGraph) -> None:
    code = stage.function("views")["code"]
    assert code["__asset__"] == "AssetArchive"
    missing = [spec.module for spec in WIRING.functions if f"{spec.module.replace('.', '/')}.py" not in code["files"]]
    assert missing == [], "these functions would fail to import their handler"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"throttling": {"burstLimit": -1, "rateLimit": 10}}, "blog-analytics:throttling"),
        ({"allowedOrigins": None}, "blog-analytics:allowedOrigins"),
        ({"logRetentionDays": 13}, "blog-analytics:logRetentionDays"),
    ],
)
def test_program_malformed_config_fails_naming_the_key(
    run_stack: RunStack, tmp_path: Path, change: dict[str, Any], key: str
) -> None:
    with pytest.raises(ProgramFailed) as failure:
        run_stack("stage", _stack_file(tmp_path, "stage", **change))
    assert key in str(failure.value)
    assert "A valid example" in str(failure.value)


def test_store_each_stream_has_at_most_two_readers(stack: StackGraph) -> None:
    """DynamoDB advises at most two Lambda readers per stream shard (DESIGN.md)."""
    readers = Counter(m["eventSourceArn"] for m in stack.of_type(MAPPING) if "/stream/" in m["eventSourceArn"])
    assert readers and max(readers.values()) <= 2, readers


def test_store_referrer_stream_carries_old_images_for_the_hourly_referrers(stack: StackGraph) -> None:
    referrer = stack.where(TABLE, name=f"{_stack_of(stack)}-Referrer")
    assert referrer["streamViewType"] == "NEW_AND_OLD_IMAGES"
