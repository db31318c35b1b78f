"""The tests' stand-in for IAM (tests/support/grants.py) refuses what a grant leaves out."""

from __future__ import annotations

import json

import pytest
from support.aws import Cloud
from support.events import ws_message
from support.grants import UngrantedCall, check, enforce, grants, needed

from handlers import aws, watch
from handlers.wiring import CONNECTIONS, WIRING, TableGrant


def test_grants_needed_actions_per_request_shape() -> None:
    assert needed("GetItem", {"TableName": "s-PostCountReader"}) == [("dynamodb:GetItem", "PostCountReader")]
    assert needed("BatchGetItem", {"RequestItems": {"s-A": {}, "s-B": {}}}) == [
        ("dynamodb:BatchGetItem", "A"),
        ("dynamodb:BatchGetItem", "B"),
    ]
    transaction = {"TransactItems": [{"Put": {"TableName": "s-A"}}, {"ConditionCheck": {"TableName": "s-B"}}]}
    assert needed("TransactWriteItems", transaction) == [
        ("dynamodb:PutItem", "A"),
        ("dynamodb:ConditionCheckItem", "B"),
    ]
    assert needed("DescribeStream", {"StreamArn": "arn"}) == []


def test_grants_check_names_what_is_missing() -> None:
    granted = grants()
    check(granted, "handlers.views", "Query", {"TableName": "s-Connections"})
    with pytest.raises(UngrantedCall, match=r"handlers\.views: dynamodb:Scan on Connections"):
        check(granted, "handlers.views", "Scan", {"TableName": "s-Connections"})


def test_grants_a_handler_call_outside_its_grant_fails_the_test(cloud: Cloud) -> None:
    """watch's `reading` puts a reader item: without PutItem in watch's grant, the call fails."""
    narrowed = WIRING._replace(
        functions=tuple(
            spec._replace(
                tables=tuple(
                    TableGrant(g.table, tuple(a for a in g.actions if a != "dynamodb:PutItem"))
                    if g.table == CONNECTIONS
                    else g
                    for g in spec.tables
                )
            )
            if spec.name == "watch"
            else spec
            for spec in WIRING.functions
        )
    )
    aws.reset()  # a client takes the session's hooks when it is made
    stop = enforce(narrowed)
    try:
        event = ws_message({"message": "watch", "reading": {"articleId": "hello-world"}}, route="watch")
        with pytest.raises(UngrantedCall, match=r"handlers\.watch: dynamodb:PutItem on Connections"):
            watch.handler(event, None)
    finally:
        stop()
        aws.reset()
    event = ws_message({"message": "watch", "reading": {"articleId": "hello-world"}}, route="watch")
    assert json.loads(watch.handler(event, None)["body"])["status"] == "ok", "the real grant allows it"
