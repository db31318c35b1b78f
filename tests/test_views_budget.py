"""viewsPerConnection: a connection's views budget, kept on its Connections item (moto)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.aws import STACK, Cloud
from support.events import ws_message

from handlers import aws, views
from handlers.connections import VIEWS_ATTRIBUTE, connection_key
from handlers.settings import SettingsError, settings_from
from handlers.wiring import CONNECTIONS, ENV_STACK, ENV_VIEWS_PER_CONNECTION, physical_table_name


def view(connection: str, view_id: str) -> dict[str, Any]:
    event = ws_message({"message": "views", "articleId": "hello-world", "viewId": view_id}, route="views")
    event["requestContext"]["connectionId"] = connection
    reply: dict[str, Any] = json.loads(views.handler(event, None)["body"])
    return reply


def published(cloud: Cloud) -> int:
    return len(cloud.receive("post_view"))


@pytest.fixture
def budget_of_two(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    monkeypatch.setenv(ENV_VIEWS_PER_CONNECTION, "2")
    aws.reset()
    return cloud


def test_views_beyond_the_budget_are_refused_and_not_published(
    budget_of_two: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    replies = [view("one", f"view-id-{n:012d}") for n in range(3)]
    assert [r.get("status") for r in replies[:2]] == ["ok", "ok"]
    assert (replies[2]["message"], replies[2]["error"]) == ("error", "rate_limited")
    assert published(budget_of_two) == 2, "the refused view is not counted"
    refusals = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "view_refused" in line]
    assert [r["reason"] for r in refusals] == ["budget"]
    assert "one" not in json.dumps(refusals), "no connection id in the log"


def test_the_budget_is_per_connection(budget_of_two: Cloud) -> None:
    for n in range(2):
        assert view("one", f"view-id-{n:012d}")["status"] == "ok"
    assert view("one", "view-id-000000000009")["error"] == "rate_limited"
    assert view("two", "view-id-000000000010")["status"] == "ok", "another connection has its own budget"
    assert published(budget_of_two) == 3


def test_no_budget_counts_every_view_and_still_tallies(cloud: Cloud) -> None:
    for n in range(5):
        assert view("one", f"view-id-{n:012d}")["status"] == "ok"
    assert published(cloud) == 5
    item = cloud.ddb.get_item(
        TableName=physical_table_name(STACK, CONNECTIONS),
        Key=connection_key("one"),
    )["Item"]
    assert item[VIEWS_ATTRIBUTE] == {"N": "5"}


@pytest.mark.parametrize("raw", ["-1", "ten", "1.5", "٣"])
def test_a_bad_budget_setting_names_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match=ENV_VIEWS_PER_CONNECTION):
        settings_from({ENV_STACK: "test", ENV_VIEWS_PER_CONNECTION: raw})


def test_budget_setting_read() -> None:
    assert settings_from({ENV_STACK: "test", ENV_VIEWS_PER_CONNECTION: "100"}).views_per_connection == 100
    assert settings_from({ENV_STACK: "test"}).views_per_connection == 0


def readers_of(cloud: Cloud, target: str) -> set[str]:
    items = cloud.items(CONNECTIONS)
    return {i["sk"]["S"] for i in items if i["pk"]["S"] == target and i["sk"]["S"].startswith("r#")}


def view_of(connection: str, article: str, view_id: str) -> dict[str, Any]:
    event = ws_message({"message": "views", "articleId": article, "viewId": view_id}, route="views")
    event["requestContext"]["connectionId"] = connection
    reply: dict[str, Any] = json.loads(views.handler(event, None)["body"])
    return reply


def test_a_refused_view_leaves_no_reader_behind(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its budget a connection cannot make itself a reader of every post it names: the
    reader item put beside the refused update is taken back, except where it still reads."""
    monkeypatch.setenv(ENV_VIEWS_PER_CONNECTION, "1")
    aws.reset()
    assert view_of("h", "a", "view-id-000000000001")["status"] == "ok"
    for n, article in enumerate(["b", "c", "a"], start=2):
        assert view_of("h", article, f"view-id-{n:012d}")["error"] == "rate_limited"
    assert readers_of(cloud, "post:b") == readers_of(cloud, "post:c") == set()
    assert readers_of(cloud, "post:a") == {"r#h"}, "a refused view of its own post keeps it reading"
    assert view_of("other", "b", "view-id-000000000009")["readingNow"] == 1
