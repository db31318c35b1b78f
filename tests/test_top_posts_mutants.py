"""The operator's rebuild command: it must not run without naming its stack, and it talks
to the endpoint it is given. Kills handlers/top_posts.py survivors of the mutation run
(tests/MUTATION.md)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from support.aws import STACK, Cloud
from support.events import post_item

from handlers import top_posts
from handlers.wiring import POST_COUNT_READER, TOP_POSTS


def test_top_rebuild_command_without_a_stack_stops_before_any_table(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.put(POST_COUNT_READER, post_item("a", 3))
    with pytest.raises(SystemExit) as stopped:
        top_posts.main([])
    assert stopped.value.code == 2 and "--stack" in capsys.readouterr().err
    assert cloud.items(TOP_POSTS) == []


def test_top_rebuild_command_uses_the_endpoint_it_is_given(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--endpoint-url` is how an operator points it at the local stack instead of AWS."""
    endpoints: list[str | None] = []
    real_client = boto3.client

    def client(service: str, **kwargs: Any) -> Any:
        endpoints.append(kwargs.get("endpoint_url"))
        return real_client(service)  # moto answers whatever the endpoint

    monkeypatch.setattr(boto3, "client", client)
    assert top_posts.main(["--stack", STACK, "--endpoint-url", "http://127.0.0.1:4566"]) == 0
    assert endpoints == ["http://127.0.0.1:4566"]


def test_top_scan_follows_every_page(cloud: Cloud) -> None:
    """The rebuild and repair's reconcile read whole tables: a page left unread is a post
    left out of the top or left stale in the reader."""
    cloud.put(POST_COUNT_READER, *(post_item(f"p{i}", i + 1) for i in range(5)))
    items = top_posts.scan(cloud.ddb, cloud.table(POST_COUNT_READER), Limit=2)
    assert sorted(item["articleId"]["S"] for item in items) == [f"p{i}" for i in range(5)]


def test_top_read_before_a_write_is_strongly_consistent(cloud: Cloud) -> None:
    """The write is conditioned on the version read: an eventually consistent read could
    hold an older version and lose every write to it."""
    reads: list[dict[str, Any]] = []
    cloud.ddb.meta.events.register("provide-client-params.dynamodb.GetItem", lambda params, **_: reads.append(params))
    top_posts.merge_into_top(cloud.ddb, cloud.table(TOP_POSTS), [top_posts.Ranked("a", "A", 1, 1)])
    assert reads and all(read.get("ConsistentRead") is True for read in reads)


def test_top_first_write_sends_no_unused_expression_value(cloud: Cloud) -> None:
    """DynamoDB refuses a request whose ExpressionAttributeValues holds a value its
    expressions do not use (ValidationException; moto lets it pass): the first write,
    conditioned on the item not existing, must carry no `:read`, or the top could never be
    created and replicate would fail every batch."""
    puts: list[dict[str, Any]] = []
    cloud.ddb.meta.events.register("provide-client-params.dynamodb.PutItem", lambda params, **_: puts.append(params))
    table = cloud.table(TOP_POSTS)
    top_posts.merge_into_top(cloud.ddb, table, [top_posts.Ranked("a", "A", 1, 1)])
    top_posts.merge_into_top(cloud.ddb, table, [top_posts.Ranked("a", "A", 2, 2)])
    first, second = puts
    assert "ExpressionAttributeValues" not in first
    assert first["ConditionExpression"] == "attribute_not_exists(#version)"
    assert second["ExpressionAttributeValues"] == {":read": {"N": "1"}}


def test_top_merge_says_whether_it_wrote(cloud: Cloud) -> None:
    table = cloud.table(TOP_POSTS)
    assert top_posts.merge_into_top(cloud.ddb, table, [top_posts.Ranked("a", "A", 1, 1)]) is True
    assert top_posts.merge_into_top(cloud.ddb, table, [top_posts.Ranked("a", "A", 1, 1)]) is False
