"""The wiring table is consistent: everything it names exists."""

from __future__ import annotations

import importlib
from typing import get_args

import pytest

from handlers import schema
from handlers.wiring import EVENT_TYPE_ATTRIBUTE, EVENT_TYPES, WIRING, FunctionSpec

FUNCTIONS = {f.name for f in WIRING.functions}
# API Gateway's own route keys (connection opened, closed, frame matching no other route).
API_GATEWAY_ROUTES = {"$connect", "$disconnect", "$default"}
TABLES = {t.name for t in WIRING.tables}


@pytest.mark.parametrize("spec", WIRING.functions, ids=lambda f: f.name)
def test_wiring_every_function_module_has_a_handler(spec: FunctionSpec) -> None:
    module = importlib.import_module(spec.module)
    assert callable(getattr(module, "handler", None))


def test_wiring_routes_queues_and_streams_name_known_functions() -> None:
    named = (
        {r.function for r in WIRING.routes} | {q.function for q in WIRING.queues} | {s.function for s in WIRING.streams}
    ) | {s.repair.function for s in WIRING.streams if s.repair is not None}
    assert named <= FUNCTIONS


def test_wiring_every_function_is_used_once_as_a_consumer_or_route() -> None:
    consumers = [q.function for q in WIRING.queues] + [s.function for s in WIRING.streams]
    consumers += [s.repair.function for s in WIRING.streams if s.repair is not None]
    assert len(consumers) == len(set(consumers))
    assert {r.function for r in WIRING.routes} | set(consumers) == FUNCTIONS


def test_wiring_grants_name_known_tables_and_streams_have_one() -> None:
    assert {g.table for f in WIRING.functions for g in f.tables} <= TABLES
    assert all(WIRING.table(s.table).stream for s in WIRING.streams)


def test_wiring_every_event_type_has_exactly_one_queue() -> None:
    filtered = [v for q in WIRING.queues for v in q.filter_policy.get(EVENT_TYPE_ATTRIBUTE, [])]
    assert sorted(filtered) == sorted(EVENT_TYPES)


def test_wiring_routes_are_the_contracts() -> None:
    """API Gateway's three routes, plus exactly one per client message the schema parses."""
    parsed = {get_args(m.model_fields["message"].annotation)[0] for m in schema._Message.__subclasses__()}
    assert parsed, "the schema names no client message"
    assert {r.route_key for r in WIRING.routes} - set(WIRING.message_routes) == API_GATEWAY_ROUTES
    assert sorted(WIRING.message_routes) == sorted(parsed)
    assert WIRING.route_selection_expression == "$request.body.message"


def test_wiring_grants_name_no_wildcards() -> None:
    actions = [a for f in WIRING.functions for g in f.tables for a in g.actions]
    assert actions and all(a.startswith("dynamodb:") and "*" not in a for a in actions)
