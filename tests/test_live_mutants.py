"""The live fan-out (handlers/live.py) on scripted DynamoDB and management clients: written
for mutation testing (tests/MUTATION.md). tests/test_live.py checks the behaviour on moto;
these pin what each stream record asks for, every request sent, who is pushed what, and
which records are reported, in seconds."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from handlers import connections, live
from handlers.connections import (
    CONNECTION_LIMIT_SECONDS,
    EXPIRY_MARGIN_SECONDS,
    connection_key,
    follower_key,
    reading_now_key,
)
from handlers.live import Followers, LiveBatch
from handlers.settings import load_settings
from handlers.wiring import CONNECTIONS, HOME_AND_PROFILE, POST_COUNT_READER

NOW = 1_800_000_000.5
LATER = {"N": str(int(NOW) + 600)}
GONE_ERROR = ClientError({"Error": {"Code": "GoneException"}}, "PostToConnection")


def conn_item(
    connection_id: str, target: str = "", watching: list[str] | None = None, ttl: dict[str, str] = LATER
) -> dict[str, Any]:
    item: dict[str, Any] = {**connection_key(connection_id), connections.TTL_ATTRIBUTE: ttl}
    if target:
        item["target"] = {"S": target}
    if watching:
        item["watching"] = {"SS": watching}
    return item


def rec(
    seq: str, new: dict[str, Any] | None = None, old: dict[str, Any] | None = None, keys: bool = True
) -> dict[str, Any]:
    data: dict[str, Any] = {"SequenceNumber": seq}
    if new is not None:
        data["NewImage"] = new
    if old is not None:
        data["OldImage"] = old
    image = new or old or {}
    if keys:
        data["Keys"] = {k: image[k] for k in ("pk", "sk", "articleId", "pageName") if k in image}
    return {"dynamodb": data}


@pytest.fixture(autouse=True)
def fresh_pool() -> None:
    """A push pool made in this process: mutmut forks each mutant's run from a process
    whose cached pool has threads the fork does not copy, and a push submitted to it would
    wait until mutmut's timeout, counted as a kill."""
    live._push_pool.cache_clear()


class ScriptedDynamoDB:
    """Records each call. batch_get_item answers `items`; batch_write_item leaves the
    scripted unprocessed lists in turn; query answers the scripted pages per target."""

    def __init__(
        self,
        items: list[dict[str, Any]] | None = None,
        unprocessed: list[int] | None = None,
        pages: dict[str, list[dict[str, Any]]] | None = None,
        counts: dict[str, dict[str, Any]] | None = None,
        error: Exception | None = None,
    ) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.items = items or []
        self.unprocessed = list(unprocessed or [])
        self.pages = {k: list(v) for k, v in (pages or {}).items()}
        self.counts = counts or {}
        self.error = error
        self.throttled = False

    def _record(self, name: str, request: dict[str, Any]) -> None:
        self.calls.append((name, json.loads(json.dumps(request))))

    def batch_get_item(self, **request: Any) -> dict[str, Any]:
        self._record("batch_get_item", request)
        if self.error is not None:
            raise self.error
        assert len(self.named("batch_get_item")) <= 10, "unbounded retries"
        [table] = request["RequestItems"]
        if self.throttled:
            return {"Responses": {}, "UnprocessedKeys": request["RequestItems"]}
        return {"Responses": {table: self.items}}

    def batch_write_item(self, **request: Any) -> dict[str, Any]:
        self._record("batch_write_item", request)
        [(table, writes)] = request["RequestItems"].items()
        left = self.unprocessed.pop(0) if self.unprocessed else 0
        return {"UnprocessedItems": {table: writes[:left]} if left else {}}

    def query(self, **request: Any) -> dict[str, Any]:
        self._record("query", request)
        if self.error is not None:
            raise self.error
        return self.pages[request["ExpressionAttributeValues"][":target"]["S"]].pop(0)

    def get_item(self, **request: Any) -> dict[str, Any]:
        self._record("get_item", request)
        key = next(iter(request["Key"].values()))["S"]
        return {"Item": self.counts[key]} if key in self.counts else {}

    def put_item(self, **request: Any) -> dict[str, Any]:
        self._record("put_item", request)
        return {}

    def named(self, name: str) -> list[dict[str, Any]]:
        return [r for n, r in self.calls if n == name]


class ScriptedApi:
    """PostToConnection: records each post; `errors` maps a connection to what it raises."""

    def __init__(self, errors: dict[str, Exception] | None = None) -> None:
        self.errors = errors or {}
        self.pushed: list[tuple[str, dict[str, Any]]] = []

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:
        if ConnectionId in self.errors:
            raise self.errors[ConnectionId]
        self.pushed.append((ConnectionId, json.loads(Data)))


def logged(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


# ---- reading the records ---------------------------------------------------------------


def test_live_count_records_name_their_targets() -> None:
    post = {"articleId": {"S": "a"}, "totalViews": {"N": "1"}}
    page = {"pageName": {"S": "Home_Page"}}
    batch = live.parse_batch(
        {"Records": [rec("1", post), rec("2", page), rec("3", post), rec("4", None, post, keys=False)]}
    )
    assert batch.targets == {"post:a": ["1", "3", "4"], "page:Home_Page": ["2"]}
    assert batch.memberships == {} and batch.rejected == []


def test_live_connection_record_names_its_memberships_and_moved_targets() -> None:
    old = conn_item("c1", "post:a", ["page:Home_Page"])
    new = conn_item("c1", "post:b", ["page:Home_Page", "post:x"])
    batch = live.parse_batch({"Records": [rec("7", new, old)]})
    assert batch.memberships == {
        "c1": {("post:a", True), ("post:b", True), ("page:Home_Page", False), ("post:x", False)}
    }
    assert batch.membership_records == {"c1": ["7"]}
    assert batch.targets == {"post:a": ["7"], "post:b": ["7"]}


def test_live_connection_first_target_and_removal_push_only_real_targets() -> None:
    first = live.parse_batch({"Records": [rec("1", conn_item("c1", "post:a"), conn_item("c1"))]})
    assert first.targets == {"post:a": ["1"]}
    gone = live.parse_batch({"Records": [rec("2", None, conn_item("c1", "post:a", ["post:w"]))]})
    assert gone.memberships == {"c1": {("post:a", True), ("post:w", False)}}
    assert gone.targets == {"post:a": ["2"]}
    watch_only = live.parse_batch({"Records": [rec("3", conn_item("c1", watching=["post:w"]), conn_item("c1"))]})
    assert watch_only.targets == {}
    assert watch_only.membership_records == {"c1": ["3"]}


def test_live_same_memberships_again_is_nothing_to_do() -> None:
    item = conn_item("c1", "post:a", ["post:w"])
    batch = live.parse_batch({"Records": [rec("1", {**item, "views": {"N": "2"}}, item)]})
    assert batch == LiveBatch()


def test_live_follower_and_reading_now_items_are_ignored() -> None:
    follower = {**follower_key("post:a", "c1", True), connections.TTL_ATTRIBUTE: LATER}
    other_conn_sort = {"pk": {"S": "conn#c1"}, "sk": {"S": "other"}}
    batch = live.parse_batch(
        {
            "Records": [
                rec("1", follower),
                rec("2", {**reading_now_key("post:a"), "readingNow": {"N": "1"}}),
                rec("3", other_conn_sort),
            ]
        }
    )
    assert batch == LiveBatch()


def test_live_unreadable_records_are_reported_and_the_rest_read() -> None:
    batch = live.parse_batch(
        {"Records": [{"dynamodb": {"SequenceNumber": "1"}}, {}, rec("3", {"articleId": {"S": "a"}})]}
    )
    assert batch.rejected == ["1", ""]
    assert batch.targets == {"post:a": ["3"]}
    assert live.parse_batch({}) == LiveBatch()


# ---- memberships -------------------------------------------------------------------------


def test_live_desired_is_nothing_for_a_gone_or_expired_connection() -> None:
    assert live.desired({}, NOW) == set()
    assert live.desired(conn_item("c1", "post:a", ttl={"N": str(int(NOW))}), NOW) == set()
    assert live.desired(conn_item("c1", "post:a", ["post:w"]), NOW) == {("post:a", True), ("post:w", False)}


def test_live_membership_writes_delete_what_is_no_longer_wanted_and_put_the_rest() -> None:
    named = {
        "c2": {("post:a", True), ("post:b", True), ("post:w", False)},
        "c1": {("post:z", False)},
    }
    current = {"c2": conn_item("c2", "post:b", ["post:w"])}
    assert live.membership_writes(named, current, NOW) == [
        {"DeleteRequest": {"Key": follower_key("post:z", "c1", False)}},
        {"DeleteRequest": {"Key": follower_key("post:a", "c2", True)}},
        {"PutRequest": {"Item": {**follower_key("post:b", "c2", True), connections.TTL_ATTRIBUTE: LATER}}},
        {"PutRequest": {"Item": {**follower_key("post:w", "c2", False), connections.TTL_ATTRIBUTE: LATER}}},
    ]


def test_live_write_all_chunks_by_25_and_asks_again_for_the_unprocessed() -> None:
    writes = [{"DeleteRequest": {"Key": {"pk": {"S": str(i)}}}} for i in range(30)]
    ddb = ScriptedDynamoDB(unprocessed=[3, 0])
    live.write_all(ddb, "T", writes)
    assert [r["RequestItems"]["T"] for r in ddb.named("batch_write_item")] == [writes[:25], writes[:3], writes[25:]]
    live.write_all(ddb := ScriptedDynamoDB(), "T", [])
    assert ddb.calls == []


def test_live_write_all_gives_up_after_five_calls() -> None:
    ddb = ScriptedDynamoDB(unprocessed=[1] * 5)
    with pytest.raises(RuntimeError, match=r"^1 membership writes left unprocessed$"):
        live.write_all(ddb, "T", [{"DeleteRequest": {"Key": {}}}] * 2)
    assert len(ddb.named("batch_write_item")) == 5


def test_live_reconcile_reads_each_connection_and_writes_its_followers() -> None:
    batch = live.parse_batch({"Records": [rec("1", conn_item("c1", "post:b"), conn_item("c1", "post:a"))]})
    ddb = ScriptedDynamoDB(items=[conn_item("c1", "post:b")])
    assert live.reconcile(ddb, "T", batch, NOW) == []
    assert ddb.named("batch_get_item") == [{"RequestItems": {"T": {"Keys": [connection_key("c1")]}}}]
    assert ddb.named("batch_write_item") == [
        {
            "RequestItems": {
                "T": [
                    {"DeleteRequest": {"Key": follower_key("post:a", "c1", True)}},
                    {"PutRequest": {"Item": {**follower_key("post:b", "c1", True), connections.TTL_ATTRIBUTE: LATER}}},
                ]
            }
        }
    ]
    assert live.reconcile(ddb := ScriptedDynamoDB(), "T", LiveBatch(), NOW) == []
    assert ddb.calls == []


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (
            lambda: ScriptedDynamoDB(error=ClientError({"Error": {"Code": "InternalServerError"}}, "BatchGetItem")),
            "ClientError",
        ),
        (lambda: ScriptedDynamoDB(error=EndpointConnectionError(endpoint_url="http://x")), "EndpointConnectionError"),
        (lambda: ScriptedDynamoDB(items=[conn_item("c1", "post:b")], unprocessed=[1] * 5), "RuntimeError"),
    ],
)
def test_live_reconcile_failure_reports_every_membership_record(
    make: Callable[[], ScriptedDynamoDB], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        rec("1", conn_item("c1", "post:b"), conn_item("c1", "post:a")),
        rec("2", conn_item("c2", "post:b"), conn_item("c2")),
        rec("3", conn_item("c1", "post:c"), conn_item("c1", "post:b")),
    ]
    assert live.reconcile(make(), "T", live.parse_batch({"Records": records}), NOW) == ["1", "3", "2"]
    assert [(e["level"], e["event"], e["connections"], e["error"]) for e in logged(capsys)] == [
        ("error", "live_memberships_failed", 2, error)
    ]


# ---- followers and pushes ----------------------------------------------------------------


def test_live_followers_are_the_open_readers_and_watchers() -> None:
    items = [
        {**follower_key("post:a", "r1", True), connections.TTL_ATTRIBUTE: LATER},
        {**follower_key("post:a", "r2", True), connections.TTL_ATTRIBUTE: {"N": str(int(NOW) - 1)}},
        {**follower_key("post:a", "w1", False), connections.TTL_ATTRIBUTE: LATER},
        {**follower_key("post:a", "r1", False), connections.TTL_ATTRIBUTE: LATER},
        {**reading_now_key("post:a"), "readingNow": {"N": "4"}, connections.TTL_ATTRIBUTE: LATER},
        {"pk": {"S": "post:a"}, "sk": {"S": "x#odd"}, connections.TTL_ATTRIBUTE: LATER},
    ]
    followers = live.followers_of(items, NOW)
    assert followers == Followers(frozenset({"r1"}), frozenset({"w1", "r1"}))
    assert followers.everyone == ["r1", "w1"]


def test_live_query_followers_reads_the_whole_partition_consistently() -> None:
    first = {
        "Items": [{**follower_key("post:a", "r1", True), connections.TTL_ATTRIBUTE: LATER}],
        "LastEvaluatedKey": {"k": 1},
    }
    second = {"Items": [{**follower_key("post:a", "w1", False), connections.TTL_ATTRIBUTE: LATER}]}
    ddb = ScriptedDynamoDB(pages={"post:a": [first, second]})
    assert live.query_followers(ddb, "T", "post:a", NOW) == Followers(frozenset({"r1"}), frozenset({"w1"}))
    request = {
        "TableName": "T",
        "KeyConditionExpression": "pk = :target",
        "ExpressionAttributeValues": {":target": {"S": "post:a"}},
        "ConsistentRead": True,
    }
    assert ddb.named("query") == [request, {**request, "ExclusiveStartKey": {"k": 1}}]


def test_live_push_body_is_the_stored_counts_read_consistently(handler_env: None) -> None:
    settings = load_settings()
    ddb = ScriptedDynamoDB(
        counts={
            "a": {
                "articleId": {"S": "a"},
                "articleTitle": {"S": "A"},
                "totalViews": {"N": "9"},
                "uniqueViews": {"N": "4"},
            },
            "Home_Page": {"pageName": {"S": "Home_Page"}, "totalViews": {"N": "3"}, "uniqueViews": {"N": "2"}},
        }
    )
    post = json.loads(live.push_body(ddb, settings, "post:a", 2))
    assert post == {
        "message": "counts",
        "articleId": "a",
        "articleTitle": "A",
        "totalViews": 9,
        "uniqueViews": 4,
        "readingNow": 2,
    }
    page = json.loads(live.push_body(ddb, settings, "page:Home_Page", 1))
    assert page == {"message": "counts", "page": "Home_Page", "totalViews": 3, "uniqueViews": 2, "readingNow": 1}
    assert ddb.named("get_item") == [
        {"TableName": settings.table(POST_COUNT_READER), "Key": {"articleId": {"S": "a"}}, "ConsistentRead": True},
        {
            "TableName": settings.table(HOME_AND_PROFILE),
            "Key": {"pageName": {"S": "Home_Page"}},
            "ConsistentRead": True,
        },
    ]


def test_live_post_one_tells_sent_gone_and_failed() -> None:
    api = ScriptedApi(
        {
            "gone": GONE_ERROR,
            "throttled": ClientError({"Error": {"Code": "LimitExceededException"}}, "PostToConnection"),
            "no-code": ClientError({}, "PostToConnection"),
            "down": EndpointConnectionError(endpoint_url="http://x"),
        }
    )
    assert live.post_one(api, "ok", b'{"a":1}') == live.SENT
    assert api.pushed == [("ok", {"a": 1})]
    assert live.post_one(api, "gone", b"{}") == live.GONE
    assert live.post_one(api, "throttled", b"{}") == live.FAILED
    assert live.post_one(api, "no-code", b"{}") == live.FAILED
    assert live.post_one(api, "down", b"{}") == live.FAILED


def test_live_post_all_returns_the_gone_and_logs_the_failed(capsys: pytest.CaptureFixture[str]) -> None:
    api = ScriptedApi(
        {
            "g1": GONE_ERROR,
            "f1": EndpointConnectionError(endpoint_url="x"),
            "f2": EndpointConnectionError(endpoint_url="x"),
        }
    )
    assert live.post_all(api, iter(["a", "g1", "f1", "b", "f2"]), b"{}") == {"g1"}
    assert sorted(c for c, _ in api.pushed) == ["a", "b"]
    assert [(e["level"], e["event"], e["connections"]) for e in logged(capsys)] == [("warn", "live_push_failed", 2)]
    assert live.post_all(ScriptedApi(), ["a"], b"{}") == set()
    assert logged(capsys) == []


def test_live_forget_gone_deletes_the_connection_and_its_items_here() -> None:
    ddb = ScriptedDynamoDB()
    followers = Followers(frozenset({"g2", "r"}), frozenset({"g1", "g2"}))
    live.forget_gone(ddb, "T", "post:a", followers, {"g2", "g1"})
    assert ddb.named("batch_write_item") == [
        {
            "RequestItems": {
                "T": [
                    {"DeleteRequest": {"Key": connection_key("g1")}},
                    {"DeleteRequest": {"Key": follower_key("post:a", "g1", False)}},
                    {"DeleteRequest": {"Key": connection_key("g2")}},
                    {"DeleteRequest": {"Key": follower_key("post:a", "g2", True)}},
                    {"DeleteRequest": {"Key": follower_key("post:a", "g2", False)}},
                ]
            }
        }
    ]


# ---- one target's fan-out and the handler ------------------------------------------------


def follower(connection_id: str, reading: bool) -> dict[str, Any]:
    return {**follower_key("post:a", connection_id, reading), connections.TTL_ATTRIBUTE: LATER}


POST_A = {
    "a": {"articleId": {"S": "a"}, "articleTitle": {"S": "A"}, "totalViews": {"N": "5"}, "uniqueViews": {"N": "1"}}
}


def push(reading_now: int) -> dict[str, Any]:
    return {
        "message": "counts",
        "articleId": "a",
        "articleTitle": "A",
        "totalViews": 5,
        "uniqueViews": 1,
        "readingNow": reading_now,
    }


def test_live_fan_out_pushes_everyone_and_keeps_reading_now_when_readers_changed(handler_env: None) -> None:
    settings = load_settings()
    ddb = ScriptedDynamoDB(
        pages={"post:a": [{"Items": [follower("r1", True), follower("r2", True), follower("w1", False)]}]},
        counts=POST_A,
    )
    api = ScriptedApi()
    live.fan_out(ddb, api, settings, "post:a", readers_changed=True, now=NOW)
    assert sorted(api.pushed, key=lambda p: p[0]) == [("r1", push(2)), ("r2", push(2)), ("w1", push(2))]
    assert ddb.named("put_item") == [
        {
            "TableName": settings.table(CONNECTIONS),
            "Item": {
                **reading_now_key("post:a"),
                "readingNow": {"N": "2"},
                # As a connection's items: past API Gateway's 2-hour limit from now.
                connections.TTL_ATTRIBUTE: {"N": str(int(NOW) + CONNECTION_LIMIT_SECONDS + EXPIRY_MARGIN_SECONDS)},
            },
        }
    ]
    assert ddb.named("batch_write_item") == []


def test_live_fan_out_without_pushes_or_changed_readers(handler_env: None) -> None:
    settings = load_settings()
    ddb = ScriptedDynamoDB(pages={"post:a": [{"Items": [follower("r1", True)]}] * 2}, counts=POST_A)
    live.fan_out(ddb, None, settings, "post:a", readers_changed=True, now=NOW)
    assert [n for n, _ in ddb.calls] == ["query", "put_item"]
    api = ScriptedApi()
    ddb.calls.clear()
    live.fan_out(ddb, api, settings, "post:a", readers_changed=False, now=NOW)
    assert api.pushed == [("r1", push(1))]
    assert [n for n, _ in ddb.calls] == ["query", "get_item"]


def test_live_fan_out_to_nobody_reads_no_counts(handler_env: None) -> None:
    ddb = ScriptedDynamoDB(pages={"post:a": [{"Items": []}]}, counts=POST_A)
    live.fan_out(ddb, ScriptedApi(), load_settings(), "post:a", readers_changed=True, now=NOW)
    assert [n for n, _ in ddb.calls] == ["query", "put_item"]
    assert ddb.named("put_item")[0]["Item"]["readingNow"] == {"N": "0"}


def test_live_fan_out_forgets_a_gone_reader_and_pushes_the_corrected_reading_now(
    handler_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings()
    ddb = ScriptedDynamoDB(
        pages={"post:a": [{"Items": [follower("r1", True), follower("g1", True), follower("w1", False)]}]},
        counts=POST_A,
    )
    api = ScriptedApi({"g1": GONE_ERROR})
    live.fan_out(ddb, api, settings, "post:a", readers_changed=False, now=NOW)
    assert sorted(api.pushed, key=lambda p: (p[0], p[1]["readingNow"])) == [
        ("r1", push(1)),
        ("r1", push(2)),
        ("w1", push(1)),
        ("w1", push(2)),
    ]
    assert api.pushed[-2:] in ([("r1", push(1)), ("w1", push(1))], [("w1", push(1)), ("r1", push(1))])
    assert ddb.named("batch_write_item") == [
        {
            "RequestItems": {
                settings.table(CONNECTIONS): [
                    {"DeleteRequest": {"Key": connection_key("g1")}},
                    {"DeleteRequest": {"Key": follower_key("post:a", "g1", True)}},
                ]
            }
        }
    ]
    assert [q["TableName"] for q in ddb.named("query")] == [settings.table(CONNECTIONS)]
    assert ddb.named("put_item")[0]["Item"]["readingNow"] == {"N": "1"}
    assert [(e["level"], e["event"], e["connections"]) for e in logged(capsys)] == [("info", "live_gone_forgotten", 1)]


def test_live_fan_out_a_gone_watcher_changes_no_reading_now(handler_env: None) -> None:
    ddb = ScriptedDynamoDB(pages={"post:a": [{"Items": [follower("r1", True), follower("g1", False)]}]}, counts=POST_A)
    api = ScriptedApi({"g1": GONE_ERROR})
    live.fan_out(ddb, api, load_settings(), "post:a", readers_changed=False, now=NOW)
    assert api.pushed == [("r1", push(1))]
    assert ddb.named("put_item") == []
    assert len(ddb.named("batch_write_item")) == 1


@pytest.fixture
def wired(handler_env: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CONNECTIONS_ENDPOINT", "https://abc123.execute-api.eu-west-1.amazonaws.com/stage")
    monkeypatch.setenv("LIVE_INTERVAL_SECONDS", "2")
    load_settings.cache_clear()
    made: dict[str, Any] = {"endpoints": [], "fan_outs": []}
    monkeypatch.setattr(live, "management_client", lambda endpoint: made["endpoints"].append(endpoint) or "API")
    monkeypatch.setattr(connections, "now", lambda: NOW)
    return made


def run_handler(
    monkeypatch: pytest.MonkeyPatch,
    made: dict[str, Any],
    ddb: ScriptedDynamoDB,
    records: list[Any],
    fail: frozenset[str] = frozenset(),
) -> list[str]:
    class Aws:
        @staticmethod
        def client(service: str) -> Any:
            return {"dynamodb": ddb}[service]

    monkeypatch.setattr(live, "aws", Aws)

    def fan_out(d: Any, api: Any, settings: Any, target: str, readers_changed: bool, now: float) -> None:
        made["fan_outs"].append((d is ddb, api, target, readers_changed, now))
        assert settings == load_settings()
        if target in fail:
            raise RuntimeError("x")

    monkeypatch.setattr(live, "fan_out", fan_out)
    return [f["itemIdentifier"] for f in live.handler({"Records": records}, None)["batchItemFailures"]]


def test_live_handler_fans_out_each_target_once_and_says_whose_readers_moved(
    wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    post_b = {"articleId": {"S": "b"}}
    records = [
        rec("1", conn_item("c1", "post:a"), conn_item("c1")),
        rec("2", post_b),
        rec("3", {"articleId": {"S": "a"}}),
        rec("4", post_b),
        {},
    ]
    ddb = ScriptedDynamoDB(items=[conn_item("c1", "post:a")])
    assert run_handler(monkeypatch, wired, ddb, records) == [""]
    assert wired["endpoints"] == ["https://abc123.execute-api.eu-west-1.amazonaws.com/stage"]
    assert wired["fan_outs"] == [(True, "API", "post:a", True, NOW), (True, "API", "post:b", False, NOW)]
    assert ddb.named("batch_get_item")[0]["RequestItems"] == {
        load_settings().table(CONNECTIONS): {"Keys": [connection_key("c1")]}
    }


def test_live_handler_skips_targets_retried_with_their_memberships_and_reports_failed_fan_outs(
    wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        rec("1", conn_item("c1", "post:a"), conn_item("c1")),
        rec("2", {"articleId": {"S": "b"}}),
        rec("3", {"articleId": {"S": "c"}}),
        rec("4", {"articleId": {"S": "c"}}),
    ]
    ddb = ScriptedDynamoDB(error=EndpointConnectionError(endpoint_url="x"))
    assert run_handler(monkeypatch, wired, ddb, records, fail=frozenset({"post:c"})) == ["1", "3", "4"]
    assert [t for _, _, t, _, _ in wired["fan_outs"]] == ["post:b", "post:c"]
    events = [(e["level"], e["event"], e["error"]) for e in logged(capsys)]
    assert events == [
        ("error", "live_memberships_failed", "EndpointConnectionError"),
        ("error", "live_fan_out_failed", "RuntimeError"),
    ]


@pytest.mark.parametrize(("interval", "endpoint"), [("0", "https://x.example/stage"), ("2", "")])
def test_live_handler_without_interval_or_endpoint_pushes_nothing(
    wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch, interval: str, endpoint: str
) -> None:
    monkeypatch.setenv("LIVE_INTERVAL_SECONDS", interval)
    monkeypatch.setenv("CONNECTIONS_ENDPOINT", endpoint)
    load_settings.cache_clear()
    run_handler(monkeypatch, wired, ScriptedDynamoDB(), [rec("2", {"articleId": {"S": "b"}})])
    assert wired["endpoints"] == []
    assert wired["fan_outs"] == [(True, None, "post:b", False, NOW)]


def test_live_handler_pushes_with_an_interval_of_one_second(
    wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVE_INTERVAL_SECONDS", "1")
    load_settings.cache_clear()
    run_handler(monkeypatch, wired, ScriptedDynamoDB(), [rec("2", {"articleId": {"S": "b"}})])
    assert wired["fan_outs"] == [(True, "API", "post:b", False, NOW)]


def test_live_reconcile_gives_up_after_five_reads() -> None:
    """The read is bounded (the function's timeout): past it the records are retried."""
    ddb = ScriptedDynamoDB()
    ddb.throttled = True
    batch = live.parse_batch({"Records": [rec("1", conn_item("c1", "post:b"), conn_item("c1"))]})
    assert live.reconcile(ddb, "T", batch, NOW) == ["1"]
    assert len(ddb.named("batch_get_item")) == 5


def test_live_push_body_of_a_post_whose_id_holds_a_colon(handler_env: None) -> None:
    """Article ids may hold `:`: the target's kind is what comes before the first one."""
    counts = {"a:b": {"articleId": {"S": "a:b"}, "articleTitle": {"S": "T"}, "totalViews": {"N": "2"}}}
    body = json.loads(live.push_body(ScriptedDynamoDB(counts=counts), load_settings(), "post:a:b", 0))
    assert body["articleId"] == "a:b" and body["totalViews"] == 2


def test_live_remove_of_a_count_item_on_a_new_image_stream_names_its_target() -> None:
    """The count tables' streams are NEW_IMAGE: a deleted post's record carries only Keys."""
    removed = {"eventName": "REMOVE", "dynamodb": {"SequenceNumber": "9", "Keys": {"articleId": {"S": "a"}}}}
    assert live.parse_batch({"Records": [removed]}) == LiveBatch(targets={"post:a": ["9"]})
