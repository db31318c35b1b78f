"""Live counts on moto: views and watch keep the Connections table, the fan-out pushes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from support import grants
from support.aws import Cloud
from support.events import post_item, ws_message

from handlers import aws, disconnect, live, views, watch
from handlers.connections import (
    CONNECTION_LIMIT_SECONDS,
    EXPIRY_MARGIN_SECONDS,
    VIEWS_ATTRIBUTE,
    connection_key,
    expires_at,
)
from handlers.settings import load_settings
from handlers.wiring import (
    CONNECTIONS,
    ENV_VIEWS_PER_CONNECTION,
    HOME_AND_PROFILE,
    POST_COUNT_READER,
    WIRING,
    with_live_interval,
)


def frame(handler: Any, body: dict[str, Any] | str, connection: str, route: str) -> dict[str, Any]:
    event = ws_message(body, route=route)
    event["requestContext"]["connectionId"] = connection
    reply: dict[str, Any] = json.loads(handler(event, None)["body"])
    return reply


def view(connection: str, article_id: str = "hello-world") -> dict[str, Any]:
    return frame(views.handler, {"message": "views", "articleId": article_id}, connection, "views")


def watch_frame(connection: str, body: dict[str, Any] | str) -> dict[str, Any]:
    return frame(watch.handler, body, connection, "watch")


def close(connection: str) -> None:
    event = ws_message("", route="$disconnect")
    event["requestContext"]["connectionId"] = connection
    disconnect.handler(event, None)


class FakeManagementApi:
    """apigatewaymanagementapi's PostToConnection: records pushes, 410 for gone connections."""

    def __init__(self, gone: set[str] | None = None) -> None:
        self.gone = gone or set()
        self.pushed: list[tuple[str, dict[str, Any]]] = []

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:
        if ConnectionId in self.gone:
            raise ClientError({"Error": {"Code": "GoneException", "Message": ""}}, "PostToConnection")
        self.pushed.append((ConnectionId, json.loads(Data)))

    def to(self, connection: str) -> list[dict[str, Any]]:
        return [body for c, body in self.pushed if c == connection]


@pytest.fixture
def api(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> FakeManagementApi:
    monkeypatch.setenv("CONNECTIONS_ENDPOINT", "https://abc123.execute-api.eu-west-1.amazonaws.com/stage")
    monkeypatch.setenv("LIVE_INTERVAL_SECONDS", "2")
    load_settings.cache_clear()
    fake = FakeManagementApi()
    monkeypatch.setattr(live, "management_client", lambda endpoint: fake)
    return fake


class Fanout:
    """Feeds the fan-out each table's stream records it has not seen yet, as the mappings do."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.seen: dict[str, int] = {}

    def run(self, *tables: str) -> list[Any]:
        failures = []
        for table in tables or (CONNECTIONS, POST_COUNT_READER, HOME_AND_PROFILE):
            records = self.cloud.stream(table).records
            new = records[self.seen.get(table, 0) :]
            self.seen[table] = len(records)
            if new:
                failures += live.handler({"Records": new}, None)["batchItemFailures"]
        return failures


@pytest.fixture
def fanout(cloud: Cloud) -> Fanout:
    return Fanout(cloud)


def followers(cloud: Cloud, target: str) -> set[str]:
    return {i["sk"]["S"] for i in cloud.items(CONNECTIONS) if i["pk"]["S"] == target and i["sk"]["S"] != "n"}


def test_live_views_reply_counts_this_connection_once(cloud: Cloud, fanout: Fanout) -> None:
    assert view("conn-a")["readingNow"] == 1
    fanout.run(CONNECTIONS)
    assert view("conn-a")["readingNow"] == 1, "a reload of the same page is still one reader"
    assert view("conn-b")["readingNow"] == 2
    fanout.run(CONNECTIONS)
    assert view("conn-c")["readingNow"] == 3


def test_live_views_moves_the_connection_to_its_new_target(cloud: Cloud, fanout: Fanout) -> None:
    view("conn-a", "first")
    fanout.run(CONNECTIONS)
    assert followers(cloud, "post:first") == {"r#conn-a"}
    view("conn-a", "second")
    fanout.run(CONNECTIONS)
    assert followers(cloud, "post:first") == set()
    assert followers(cloud, "post:second") == {"r#conn-a"}
    assert view("conn-b", "first")["readingNow"] == 1


def test_live_items_expire_past_api_gateways_two_hour_limit() -> None:
    connected = 1_800_000_000_000
    assert expires_at(connected, now=1_800_000_100) == 1_800_000_000 + CONNECTION_LIMIT_SECONDS + EXPIRY_MARGIN_SECONDS
    assert expires_at(0, now=1_800_000_100) > 1_800_000_100 + CONNECTION_LIMIT_SECONDS


def test_live_disconnect_removes_everything_of_its_connection(cloud: Cloud, fanout: Fanout) -> None:
    view("conn-a")
    watch_frame("conn-a", {"message": "watch", "articleIds": ["x", "y"], "pages": ["Home_Page"]})
    view("conn-b")
    fanout.run(CONNECTIONS)
    assert any("conn-a" in i["sk"]["S"] + i["pk"]["S"] for i in cloud.items(CONNECTIONS))
    close("conn-a")
    fanout.run(CONNECTIONS)
    assert not [i for i in cloud.items(CONNECTIONS) if "conn-a" in i["sk"]["S"] + i["pk"]["S"]]
    assert followers(cloud, "post:hello-world") == {"r#conn-b"}


def test_live_watch_follows_without_counting_or_reading(cloud: Cloud, fanout: Fanout) -> None:
    cloud.put(POST_COUNT_READER, post_item("a", 5, 4, "A"))
    view("reader")
    fanout.run(CONNECTIONS)
    reply = watch_frame("watcher", {"message": "watch", "articleIds": ["a", "hello-world"], "pages": ["Home_Page"]})
    assert reply["message"] == "watch" and reply["status"] == "ok"
    assert [(a["articleId"], a["totalViews"]) for a in reply["articles"]] == [("a", 5), ("hello-world", 0)]
    assert [p["page"] for p in reply["pages"]] == ["Home_Page"]
    fanout.run(CONNECTIONS)
    assert followers(cloud, "post:a") == {"w#watcher"}
    assert view("third")["readingNow"] == 2, "a watcher adds nothing to readingNow"
    assert cloud.receive("post_view") != [] and all(
        json.loads(m["Body"])["articleId"] == "hello-world" for m in cloud.receive("post_view")
    )


def test_live_watch_reply_carries_the_last_readingnow(cloud: Cloud, fanout: Fanout, api: FakeManagementApi) -> None:
    view("one")
    view("two")
    fanout.run(CONNECTIONS)
    reply = watch_frame("watcher", {"message": "watch", "articleIds": ["hello-world"]})
    assert reply["articles"][0]["readingNow"] == 2


def test_live_watch_replaces_the_list_and_empty_stops(cloud: Cloud, fanout: Fanout) -> None:
    watch_frame("w", {"message": "watch", "articleIds": ["a", "b"]})
    fanout.run(CONNECTIONS)
    watch_frame("w", {"message": "watch", "articleIds": ["b", "c"]})
    fanout.run(CONNECTIONS)
    assert {i["pk"]["S"] for i in cloud.items(CONNECTIONS) if i["sk"]["S"] == "w#w"} == {"post:b", "post:c"}
    watch_frame("w", {"message": "watch"})
    fanout.run(CONNECTIONS)
    assert not [i for i in cloud.items(CONNECTIONS) if i["sk"]["S"] == "w#w"]


@pytest.mark.parametrize(
    "body",
    [
        {"message": "watch", "articleIds": [f"a{i}" for i in range(51)]},
        {"message": "watch", "articleIds": [f"a{i}" for i in range(30)], "pages": ["Home_Page"] * 21},
        {"message": "watch", "articleIds": "a"},
        {"message": "watch", "articleIds": ["a b"]},
        {"message": "watch", "pages": ["Nope_Page"]},
        {"message": "watch", "pages": ["Home\u0000"]},
        {"message": "watch", "articleIds": [1]},
        {"message": "watch", "extra": True},
        {"message": "watch", "reading": {}},
        {"message": "watch", "reading": {"articleId": "a", "page": "Home_Page"}},
        {"message": "watch", "reading": {"articleId": "a b"}},
        {"message": "watch", "reading": {"articleId": "x" * 129}},
        {"message": "watch", "reading": {"page": "Nope_Page"}},
        {"message": "watch", "reading": {"page": "Home\u0000"}},
        {"message": "watch", "reading": {"articleId": "a", "articleTitle": "A"}},
        {"message": "watch", "reading": "hello-world"},
        {"message": "watch", "reading": ["hello-world"]},
        {"message": "watch", "reading": {"articleId": 1}},
    ],
)
def test_live_watch_hostile_input_is_refused_and_changes_nothing(cloud: Cloud, body: dict[str, Any]) -> None:
    reply = watch_frame("w", body)
    assert reply["error"] == "invalid_event", reply
    assert cloud.items(CONNECTIONS) == []


@pytest.mark.parametrize(
    ("reading", "detail"),
    [
        ({}, "reading: exactly one of articleId and page"),
        ({"articleId": "a", "page": "Home_Page"}, "reading: exactly one of articleId and page"),
        ({"page": "Nope_Page"}, "reading.page: not a page of this blog"),
        ("hello-world", "reading: must be an object"),
        ({"articleId": "a b"}, "reading.articleId: only letters, digits and . _ ~ : / - are allowed"),
    ],
)
def test_live_watch_reading_refusals_say_what_is_wrong(cloud: Cloud, reading: object, detail: str) -> None:
    assert watch_frame("w", {"message": "watch", "reading": reading})["detail"] == detail


def test_live_watch_reading_counts_in_readingnow_without_a_view(
    cloud: Cloud, fanout: Fanout, api: FakeManagementApi
) -> None:
    view("one")
    fanout.run(CONNECTIONS)
    api.pushed.clear()
    body = {"message": "watch", "articleIds": ["hello-world"], "reading": {"articleId": "hello-world"}}
    reply = watch_frame("reopened", body)
    assert reply["status"] == "ok"
    assert reply["articles"][0]["readingNow"] == 2, "its own reply counts it, exactly, as a views reply would"
    assert view("two")["readingNow"] == 3, "the reopened connection reads the post again"
    assert len(cloud.receive("post_view")) == 2, "watch counted no view"
    fanout.run(CONNECTIONS)
    assert followers(cloud, "post:hello-world") == {"r#one", "r#two", "r#reopened", "w#reopened"}
    assert api.to("one")[-1]["readingNow"] == 3


def test_live_watch_reading_a_page_counts_in_its_readingnow(cloud: Cloud, fanout: Fanout) -> None:
    watch_frame("reopened", {"message": "watch", "reading": {"page": "Home_Page"}})
    reply = frame(views.handler, {"message": "views", "currentPage": "/"}, "other", "views")
    assert (reply["page"], reply["readingNow"]) == ("Home_Page", 2)
    fanout.run(CONNECTIONS)
    assert followers(cloud, "page:Home_Page") == {"r#reopened", "r#other"}


def test_live_watch_reading_spends_no_views_budget(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VIEWS_PER_CONNECTION, "1")
    aws.reset()
    for _ in range(3):
        watch_frame("reopened", {"message": "watch", "reading": {"articleId": "hello-world"}})
    item = cloud.ddb.get_item(TableName=cloud.table(CONNECTIONS), Key=connection_key("reopened"))["Item"]
    assert VIEWS_ATTRIBUTE not in item
    assert view("reopened")["status"] == "ok", "its one view is still allowed"


def test_live_watch_reading_moves_the_target_as_a_view_would(cloud: Cloud, fanout: Fanout) -> None:
    view("conn", "first")
    fanout.run(CONNECTIONS)
    watch_frame("conn", {"message": "watch", "reading": {"articleId": "second"}})
    fanout.run(CONNECTIONS)
    assert followers(cloud, "post:first") == set()
    assert followers(cloud, "post:second") == {"r#conn"}


def test_live_fan_out_pushes_counts_and_readingnow_to_every_follower(
    cloud: Cloud, fanout: Fanout, api: FakeManagementApi
) -> None:
    view("one")
    view("two")
    watch_frame("home", {"message": "watch", "articleIds": ["hello-world"]})
    fanout.run(CONNECTIONS)
    api.pushed.clear()
    view("three")
    cloud.put(POST_COUNT_READER, post_item("hello-world", 13, 10, "Hello World"))
    fanout.run()
    expected = {
        "message": "counts",
        "articleId": "hello-world",
        "articleTitle": "Hello World",
        "totalViews": 13,
        "uniqueViews": 10,
        "readingNow": 3,
    }
    for connection in ("one", "two", "three", "home"):
        assert api.to(connection)[-1] == expected, connection


def test_live_fan_out_coalesces_a_batch_to_one_push_per_target(
    cloud: Cloud, fanout: Fanout, api: FakeManagementApi
) -> None:
    view("one")
    fanout.run(CONNECTIONS)
    api.pushed.clear()
    for total in (2, 3, 4):
        cloud.put(POST_COUNT_READER, post_item("hello-world", total))
    fanout.run(POST_COUNT_READER)
    assert [p["totalViews"] for p in api.to("one")] == [4]


def test_live_push_to_a_gone_connection_forgets_it_and_corrects_readingnow(
    cloud: Cloud, fanout: Fanout, api: FakeManagementApi
) -> None:
    for connection in ("one", "two", "gone"):
        view(connection)
    fanout.run(CONNECTIONS)
    api.gone.add("gone")  # its $disconnect never came
    api.pushed.clear()
    cloud.put(POST_COUNT_READER, post_item("hello-world", 7))
    assert fanout.run(POST_COUNT_READER) == []
    assert [p["readingNow"] for p in api.to("one")] == [3, 2]
    assert not [i for i in cloud.items(CONNECTIONS) if "gone" in i["sk"]["S"] + i["pk"]["S"]]
    fanout.run(CONNECTIONS)
    assert view("four")["readingNow"] == 3


class MeetingManagementApi(FakeManagementApi):
    """Holds each post until live.PUSH_THREADS posts are in flight together: posts sent one
    after another never meet, and the barrier breaks (after a generous wait) instead."""

    def __init__(self) -> None:
        super().__init__()
        self.meeting = threading.Barrier(live.PUSH_THREADS, timeout=60)
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self.meeting.wait()
            super().post_to_connection(ConnectionId, Data)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_live_fan_out_posts_concurrently_and_bounded(
    cloud: Cloud, fanout: Fanout, api: FakeManagementApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    readers = [f"reader-{n}" for n in range(2 * live.PUSH_THREADS)]
    for connection in readers:
        view(connection)
    fanout.run(CONNECTIONS)
    meeting = MeetingManagementApi()
    monkeypatch.setattr(live, "management_client", lambda endpoint: meeting)
    cloud.put(POST_COUNT_READER, post_item("hello-world", 40))
    assert fanout.run(POST_COUNT_READER) == []
    assert all(meeting.to(c)[-1]["totalViews"] == 40 for c in readers), "every reader got the push"
    assert meeting.most_in_flight == live.PUSH_THREADS, "PUSH_THREADS posts at a time, never more"


def test_live_a_failed_post_fails_no_other_and_forgets_nobody(
    cloud: Cloud, fanout: Fanout, api: FakeManagementApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    for connection in ("one", "two", "throttled"):
        view(connection)
    fanout.run(CONNECTIONS)
    original = api.post_to_connection

    def post(ConnectionId: str, Data: bytes) -> None:
        if ConnectionId == "throttled":
            raise ClientError({"Error": {"Code": "LimitExceededException", "Message": ""}}, "PostToConnection")
        original(ConnectionId, Data)

    monkeypatch.setattr(api, "post_to_connection", post)
    api.pushed.clear()
    cloud.put(POST_COUNT_READER, post_item("hello-world", 8))
    assert fanout.run(POST_COUNT_READER) == []
    assert [p["readingNow"] for p in api.to("one")] == [3] and [p["readingNow"] for p in api.to("two")] == [3]
    assert followers(cloud, "post:hello-world") == {"r#one", "r#two", "r#throttled"}


def test_live_replayed_record_never_pushes_lower_counts(cloud: Cloud, fanout: Fanout, api: FakeManagementApi) -> None:
    view("one")
    fanout.run(CONNECTIONS)
    cloud.put(POST_COUNT_READER, post_item("hello-world", 5))
    cloud.put(POST_COUNT_READER, post_item("hello-world", 9))
    records = cloud.stream(POST_COUNT_READER).records
    api.pushed.clear()
    live.handler({"Records": records[-1:]}, None)
    live.handler({"Records": records[:1]}, None)  # the older record, replayed late
    assert [p["totalViews"] for p in api.to("one")] == [9, 9]


@pytest.fixture
def live_off(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A stack with live counts off, its handlers held to that stack's narrower grants."""
    monkeypatch.setenv("LIVE_INTERVAL_SECONDS", "0")
    aws.reset()  # clients copy the session's hooks when made: the check must come first
    stop = grants.enforce(with_live_interval(WIRING, 0, views_budget=True))
    yield
    stop()
    aws.reset()


def test_live_off_views_reply_without_reading_now_and_follow_nothing(
    cloud: Cloud, live_off: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VIEWS_PER_CONNECTION, "0")
    load_settings.cache_clear()
    replies = [view("one"), view("two"), view("one", "other-post")]
    assert [r["status"] for r in replies] == ["ok"] * 3
    assert all("readingNow" not in r for r in replies), replies
    assert cloud.items(CONNECTIONS) == [], "no budget and no live counts: nothing to keep per connection"
    assert len(cloud.receive("post_view")) == 3, "every view is still published"


def test_live_off_keeps_only_the_views_budget(cloud: Cloud, live_off: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VIEWS_PER_CONNECTION, "2")
    load_settings.cache_clear()
    assert [view("one").get("error") for _ in range(3)] == [None, None, "rate_limited"]
    items = cloud.items(CONNECTIONS)
    assert [(i["pk"]["S"], i["sk"]["S"], i[VIEWS_ATTRIBUTE]["N"]) for i in items] == [("conn#one", "conn", "2")]
    assert "target" not in items[0], "nothing follows the connection: no target is stored"
    close("one")
    assert cloud.items(CONNECTIONS) == [], "$disconnect stays for a budget, and forgets the connection"
    assert len(cloud.receive("post_view")) == 2, "the refused view is not published"


def test_live_off_watch_answers_counts_and_writes_nothing(cloud: Cloud, live_off: None) -> None:
    cloud.put(POST_COUNT_READER, post_item("hello-world", 4))
    reply = watch_frame("one", {"message": "watch", "articleIds": ["hello-world"], "reading": {"articleId": "x"}})
    assert reply["status"] == "ok"
    assert [(a["articleId"], a["totalViews"]) for a in reply["articles"]] == [("hello-world", 4)]
    assert "readingNow" not in reply["articles"][0]
    assert cloud.items(CONNECTIONS) == []


def test_live_replayed_move_cannot_bring_back_an_old_target(cloud: Cloud, fanout: Fanout) -> None:
    view("a", "first")
    view("a", "second")
    fanout.run(CONNECTIONS)
    live.handler({"Records": cloud.stream(CONNECTIONS).records[:1]}, None)  # the move to "first", again
    assert followers(cloud, "post:first") == set()
    assert followers(cloud, "post:second") == {"r#a"}


def test_live_connection_ids_never_reach_logs_or_other_tables(
    cloud: Cloud, fanout: Fanout, api: FakeManagementApi, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "SECRETconnID0001="
    api.gone.add(secret)
    view(secret)
    watch_frame(secret, {"message": "watch", "pages": ["Home_Page"]})
    fanout.run(CONNECTIONS)
    cloud.put(POST_COUNT_READER, post_item("hello-world", 2))
    fanout.run()
    close(secret)
    fanout.run(CONNECTIONS)
    assert secret not in capsys.readouterr().out
    for table in (POST_COUNT_READER, HOME_AND_PROFILE):
        assert secret not in json.dumps(cloud.items(table))
    assert all(secret not in m["Body"] for q in cloud.queue_urls for m in cloud.receive(q))


def test_live_views_reply_counts_readers_before_the_fan_out_ran(cloud: Cloud) -> None:
    """The reader item is put with the view, so the next reader's reply counts it at once."""
    assert [view(c)["readingNow"] for c in ("one", "two", "three")] == [1, 2, 3]


def test_live_fan_out_writes_nothing_for_a_view_of_the_same_target(cloud: Cloud, fanout: Fanout) -> None:
    view("one")
    fanout.run(CONNECTIONS)
    view("one")  # a reload: the connection's item changes, what it follows does not
    writes: list[str] = []
    aws.client("dynamodb").meta.events.register(
        "before-call.dynamodb", lambda model, **_: writes.append(model.name) if "Write" in model.name else None
    )
    assert fanout.run(CONNECTIONS) == []
    assert writes == []
    assert followers(cloud, "post:hello-world") == {"r#one"}
