"""IAM in moto's place: a handler's DynamoDB call that its function's grant does not allow fails
the test, as AWS would refuse it.

moto checks no IAM, so a function whose wiring grant lacks an action it performs passes every
moto test and fails only once deployed (watch's `reading` put a reader item without
dynamodb:PutItem). `enforce()` hooks botocore's default session: before each DynamoDB call it
finds the handler module on the calling thread's stack (the module itself, or a lambda it
handed to handlers.aws.concurrently) and checks each (action, table) the request needs against
the union of the grants of that module's functions in handlers/wiring.py. Calls made by test
code, not from a handler module, are not checked.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3

from handlers.wiring import WIRING, Wiring

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"

# What IAM checks for a transaction's items and batch reads (the per-item actions).
_TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


class UngrantedCall(AssertionError):
    """A handler made a DynamoDB call its function is not granted (handlers/wiring.py)."""


def grants(wiring: Wiring = WIRING) -> dict[str, dict[str, set[str]]]:
    """Pure: handler module -> table -> the actions any of its functions may perform."""
    by_module: dict[str, dict[str, set[str]]] = {}
    for spec in wiring.functions:
        tables = by_module.setdefault(spec.module, {})
        for grant in spec.tables:
            tables.setdefault(grant.table, set()).update(grant.actions)
    return by_module


def logical(table_name: str) -> str:
    """`<stack>-<Table>` -> `<Table>` (table names hold no `-`)."""
    return table_name.rsplit("-", 1)[-1]


def needed(operation: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Pure: the (action, logical table) pairs IAM checks for one DynamoDB request."""
    if operation == "TransactWriteItems":
        return [
            (f"dynamodb:{_TRANSACT_ITEM_ACTIONS[kind]}", logical(body["TableName"]))
            for item in params.get("TransactItems", [])
            for kind, body in item.items()
        ]
    if operation == "TransactGetItems":
        return [("dynamodb:GetItem", logical(item["Get"]["TableName"])) for item in params.get("TransactItems", [])]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", logical(name)) for name in params.get("RequestItems", {})]
    if "TableName" in params:
        return [(f"dynamodb:{operation}", logical(params["TableName"]))]
    return []  # streams and account-level calls: not table grants


def calling_module(modules: set[str]) -> str | None:
    """The outermost handler module on this thread's stack that is a function's module."""
    found = None
    frame = sys._getframe(1)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.parent == HANDLERS and f"handlers.{path.stem}" in modules:
            found = f"handlers.{path.stem}"
        frame = frame.f_back  # type: ignore[assignment]
    return found


def check(
    granted: Mapping[str, Mapping[str, set[str]]], module: str, operation: str, params: Mapping[str, Any]
) -> None:
    """Pure: UngrantedCall naming the first (action, table) the module may not perform."""
    tables = granted.get(module, {})
    for action, table in needed(operation, params):
        if action not in tables.get(table, set()):
            raise UngrantedCall(f"{module}: {action} on {table} is not granted to its function (handlers/wiring.py)")


def enforce(wiring: Wiring = WIRING) -> Callable[[], None]:
    """Check every DynamoDB call made through boto3's default session from now on against
    `wiring`'s grants; returns what stops checking."""
    granted = grants(wiring)
    modules = set(granted)

    def before(params: dict[str, Any], model: Any, **_: Any) -> None:
        module = calling_module(modules)
        if module is not None:
            check(granted, module, model.name, params)

    events = boto3._get_default_session().events
    events.register("before-parameter-build.dynamodb", before)
    return lambda: events.unregister("before-parameter-build.dynamodb", before)
