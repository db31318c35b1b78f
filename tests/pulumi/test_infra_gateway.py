"""WebSocketGateway's pure parts: the redeployment hash, the permission scope, the log format."""

from __future__ import annotations

import json

from components.websocket_gateway import ACCESS_LOG_FORMAT, invoke_source_arn, redeployment_hash

ROUTES = [
    {"routeKey": "views", "integration": "i-1", "integrationUri": "arn:views", "replies": True, "response": "r-1"},
    {"routeKey": "$connect", "integration": "i-2", "integrationUri": "arn:connect", "replies": False},
]


def test_redeployment_hash_is_stable_for_the_same_routes_in_any_order() -> None:
    assert redeployment_hash(ROUTES) == redeployment_hash(list(reversed(ROUTES)))


def test_redeployment_hash_changes_when_an_integration_changes() -> None:
    changed = [{**ROUTES[0], "integrationUri": "arn:views-v2"}, ROUTES[1]]
    assert redeployment_hash(changed) != redeployment_hash(ROUTES)


def test_redeployment_hash_changes_when_a_route_is_added() -> None:
    added = [*ROUTES, {"routeKey": "stats", "integration": "i-3", "integrationUri": "arn:stats", "replies": True}]
    assert redeployment_hash(added) != redeployment_hash(ROUTES)


def test_invoke_source_arn_covers_every_stage_and_route_of_one_api_only() -> None:
    arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123"
    assert invoke_source_arn(arn) == f"{arn}/*/*"


def test_access_log_format_is_one_json_object_of_context_variables() -> None:
    fields = json.loads(ACCESS_LOG_FORMAT)
    assert all(value.startswith("$context.") for value in fields.values())
    assert not {"$context.identity.sourceIp", "$context.connectionId", "$context.identity.userAgent"} & set(
        fields.values()
    )
