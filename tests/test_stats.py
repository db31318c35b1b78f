"""stats: listed articles (unknown as zero) or top posts, plus every page; never writes, never scans."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from support.aws import Cloud
from support.events import post_item, stream_record, ws_message
from support.faults import fail

from handlers import aws, replicate, stats
from handlers.pages import MAX_PAGE_RULES, PageRule, page_rules_json
from handlers.schema import (
    MAX_ARTICLE_ID,
    MAX_STATS_IDS,
    MAX_TITLE,
    MAX_TITLE_BYTES,
    PageCounts,
    PostCounts,
    StatsReply,
    ViewMessage,
    dump_reply,
)
from handlers.wiring import ENV_PAGE_RULES, HOME_AND_PROFILE, POST_COUNT_READER, TOP_POSTS, WIRING
from local.routing import MAX_MESSAGE_BYTES


def ask(body: dict[str, Any] | str) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(stats.handler(ws_message(body, route="stats"), None)["body"])
    return reply


def put_post(cloud: Cloud, article_id: str, total: int, unique: int) -> None:
    """A counted post, as the pipeline stores it: through replicate (reader and top posts)."""
    record = stream_record(post_item(article_id, total, unique, article_id.title()), f"{total:020}")
    assert replicate.handler({"Records": [record]}, None) == {"batchItemFailures": []}


def put_page(cloud: Cloud, page: str, total: int, unique: int) -> None:
    cloud.ddb.put_item(
        TableName=cloud.table(HOME_AND_PROFILE),
        Item={"pageName": {"S": page}, "totalViews": {"N": str(total)}, "uniqueViews": {"N": str(unique)}},
    )


def snapshot(cloud: Cloud) -> dict[str, list[str]]:
    return {t.name: sorted(map(str, cloud.items(t.name))) for t in WIRING.tables}


@pytest.fixture
def requests(cloud: Cloud) -> Iterator[list[tuple[str, dict[str, int]]]]:
    """Every DynamoDB request the handlers' client makes: (operation, keys asked per table)."""
    made: list[tuple[str, dict[str, int]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        body = json.loads(params["body"] or b"{}")
        if "RequestItems" in body:
            keys = {table.rsplit("-", 1)[1]: len(r["Keys"]) for table, r in body["RequestItems"].items()}
        else:
            keys = {body.get("TableName", "").rsplit("-", 1)[1]: 1}
        made.append((model.name, keys))

    aws.client("dynamodb").meta.events.register("before-call.dynamodb", record)
    yield made


def test_stats_listed_articles_in_order_unknown_as_zero(cloud: Cloud) -> None:
    put_post(cloud, "a", 5, 3)
    reply = ask({"message": "stats", "articleIds": ["missing", "a"]})
    assert reply["articles"] == [
        {"articleId": "missing", "articleTitle": "", "totalViews": 0, "uniqueViews": 0},
        {"articleId": "a", "articleTitle": "A", "totalViews": 5, "uniqueViews": 3},
    ]


def test_stats_duplicate_ids_answered_once_in_first_seen_order(cloud: Cloud) -> None:
    put_post(cloud, "a", 5, 3)
    reply = ask({"message": "stats", "articleIds": ["b", "a", "b", "a", "c", "b"]})
    assert [a["articleId"] for a in reply["articles"]] == ["b", "a", "c"]
    assert reply["articles"][1]["totalViews"] == 5


def test_stats_empty_ids_answer_no_article_and_read_none(cloud: Cloud, requests: list[Any]) -> None:
    put_post(cloud, "a", 5, 3)
    requests.clear()
    reply = ask({"message": "stats", "articleIds": []})
    assert reply["articles"] == []
    assert [p["page"] for p in reply["pages"]] == ["About_Page", "Contact_Page", "Home_Page"]
    assert requests == [("BatchGetItem", {HOME_AND_PROFILE: 3})]


def test_stats_without_ids_top_posts_by_total_and_every_page(cloud: Cloud) -> None:
    for i in range(12):
        put_post(cloud, f"post-{i:02}", total=i + 1, unique=i)
    for page in ("Home_Page", "About_Page"):
        put_page(cloud, page, 4, 2)
    reply = ask({"message": "stats"})
    assert [a["articleId"] for a in reply["articles"]] == [f"post-{i:02}" for i in range(11, 1, -1)]
    assert reply["articles"][0] == {
        "articleId": "post-11",
        "articleTitle": "Post-11",
        "totalViews": 12,
        "uniqueViews": 11,
    }
    assert [(p["page"], p["totalViews"]) for p in reply["pages"]] == [
        ("About_Page", 4),
        ("Contact_Page", 0),  # a configured page never viewed is listed with zero counts
        ("Home_Page", 4),
    ]


def seed_reader(cloud: Cloud, count: int) -> None:
    """Posts in the reader only, as many as a big blog: stats must not read them all."""
    cloud.put(POST_COUNT_READER, *(post_item(f"old-{i}", 1, 1, f"Old-{i}") for i in range(count)))


def test_stats_without_ids_reads_the_same_keys_whatever_the_number_of_posts(
    cloud: Cloud, requests: list[tuple[str, dict[str, int]]]
) -> None:
    for i in range(12):
        put_post(cloud, f"post-{i:02}", total=i + 2, unique=1)
    made: list[list[tuple[str, dict[str, int]]]] = []
    for posts in (0, 2_000):
        seed_reader(cloud, posts)
        requests.clear()
        assert len(ask({"message": "stats"})["articles"]) == 10
        made.append(list(requests))
    # One request by key: the top-posts item and the three pages of the rules; no Scan.
    assert made == [[("BatchGetItem", {HOME_AND_PROFILE: 3, TOP_POSTS: 1})]] * 2


def test_stats_many_ids_and_pages_split_into_requests_of_at_most_100_keys(
    cloud: Cloud, requests: list[tuple[str, dict[str, int]]]
) -> None:
    put_post(cloud, "p99", 3, 2)
    requests.clear()
    reply = ask({"message": "stats", "articleIds": [f"p{i}" for i in range(100)]})
    assert [a["articleId"] for a in reply["articles"]] == [f"p{i}" for i in range(100)]
    assert reply["articles"][99]["totalViews"] == 3 and len(reply["pages"]) == 3
    assert [sum(keys.values()) for _, keys in requests] == [100, 3]


def test_stats_custom_page_rules_list_their_pages_not_the_defaults(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = (
        PageRule("/", "exact", "Start", "homepage_view"),
        PageRule("/now", "prefix", "Now", "profile_view"),
        PageRule("/uses", "prefix", "Now", "profile_view"),  # two rules, one page: answered once
    )
    monkeypatch.setenv(ENV_PAGE_RULES, page_rules_json(rules))
    aws.reset()
    put_page(cloud, "Start", 7, 5)
    put_page(cloud, "Home_Page", 9, 9)  # counted under an older rule set: not a page of these rules
    for body in ({"message": "stats"}, {"message": "stats", "articleIds": []}):
        assert ask(body)["pages"] == [
            {"page": "Now", "totalViews": 0, "uniqueViews": 0},
            {"page": "Start", "totalViews": 7, "uniqueViews": 5},
        ]


def test_stats_never_writes(cloud: Cloud) -> None:
    put_post(cloud, "a", 1, 1)
    before = snapshot(cloud)
    ask({"message": "stats", "articleIds": ["a", "b"]})
    ask({"message": "stats", "articleIds": []})
    ask({"message": "stats"})
    assert snapshot(cloud) == before


def test_stats_more_than_100_ids_refused(handler_env: None) -> None:
    reply = ask({"message": "stats", "articleIds": [f"p{i}" for i in range(101)]})
    assert reply == {"message": "error", "error": "invalid_event", "detail": "articleIds: at most 100 items"}


def test_stats_bad_id_named(handler_env: None) -> None:
    reply = ask({"message": "stats", "articleIds": ["ok", "not ok"]})
    assert reply["error"] == "invalid_event" and reply["detail"].startswith("articleIds.1:")


def test_stats_dependency_failure_is_unavailable(cloud: Cloud) -> None:
    fail(aws.client("dynamodb"), "BatchGetItem", "InternalServerError", status=500)
    assert ask({"message": "stats"})["error"] == "unavailable"


def test_stats_unprocessed_keys_retried_then_unavailable(cloud: Cloud) -> None:
    put_post(cloud, "a", 2, 1)
    calls: list[int] = []

    def keep_unprocessed(parsed: dict[str, Any], **_: Any) -> None:
        calls.append(1)  # DynamoDB under throttling: the key comes back unprocessed
        parsed["UnprocessedKeys"] = {cloud.table(POST_COUNT_READER): {"Keys": [{"articleId": {"S": "a"}}]}}

    aws.client("dynamodb").meta.events.register("after-call.dynamodb.BatchGetItem", keep_unprocessed)
    assert ask({"message": "stats", "articleIds": ["a"]})["error"] == "unavailable"
    assert len(calls) == stats.MAX_CALLS  # asked again once, then no call past the timeout's budget


def test_stats_unprocessed_keys_asked_again_within_the_budget(cloud: Cloud) -> None:
    put_post(cloud, "a", 2, 1)
    calls: list[int] = []

    def first_unprocessed(parsed: dict[str, Any], **_: Any) -> None:
        calls.append(1)
        if len(calls) == 1:  # throttled once: the key comes back unprocessed, then is read
            parsed["Responses"] = {}
            parsed["UnprocessedKeys"] = {cloud.table(POST_COUNT_READER): {"Keys": [{"articleId": {"S": "a"}}]}}

    aws.client("dynamodb").meta.events.register("after-call.dynamodb.BatchGetItem", first_unprocessed)
    assert ask({"message": "stats", "articleIds": ["a"]})["articles"][0]["totalViews"] == 2
    assert len(calls) == 2


def test_stats_call_budget_is_what_its_timeout_is_sized_for() -> None:
    assert WIRING.function("stats").reply_calls == stats.MAX_CALLS


# ---- every reply fits API Gateway's 128 KB per message --------------------------------

LONGEST_COUNT = 10**38 - 1  # a DynamoDB number holds at most 38 digits
# Titles a client may send, each the most JSON bytes for its kind: four-byte characters,
# characters JSON escapes to two bytes, and the mix that maximises the escaped size.
WORST_TITLES = {
    "four-byte": "\U0001f600" * (MAX_TITLE_BYTES // 4),
    "escaped": '"' * MAX_TITLE,
    "mixed": "\U0001f600" * ((MAX_TITLE_BYTES - MAX_TITLE) // 3)
    + "\\" * (MAX_TITLE - (MAX_TITLE_BYTES - MAX_TITLE) // 3),
}


def longest_ids() -> list[str]:
    return [f"{i:03d}".ljust(MAX_ARTICLE_ID, "x") for i in range(MAX_STATS_IDS)]


@pytest.mark.parametrize("kind", sorted(WORST_TITLES))
def test_stats_worst_case_reply_fits_api_gateways_message_quota(kind: str) -> None:
    title = WORST_TITLES[kind]
    ViewMessage(message="views", articleId="a", articleTitle=title)  # a title a client may really send
    articles = [
        PostCounts(articleId=a, articleTitle=title, totalViews=LONGEST_COUNT, uniqueViews=LONGEST_COUNT)
        for a in longest_ids()
    ]
    pages = [
        PageCounts(page=f"{i:02d}".ljust(64, "P"), totalViews=LONGEST_COUNT, uniqueViews=LONGEST_COUNT)
        for i in range(MAX_PAGE_RULES)
    ]
    size = len(dump_reply(StatsReply(articles=articles, pages=pages)).encode("utf-8"))
    assert size <= MAX_MESSAGE_BYTES, f"{kind}: {size} bytes"


def test_stats_titles_stored_before_the_byte_limit_are_cut_to_fit(cloud: Cloud) -> None:
    """300 four-byte characters each made this reply 139,002 bytes, over the quota."""
    old_title = "\U0001f600" * MAX_TITLE
    cloud.put(POST_COUNT_READER, *(post_item(a, LONGEST_COUNT, title=old_title) for a in longest_ids()))
    body = stats.handler(ws_message({"message": "stats", "articleIds": longest_ids()}, route="stats"), None)["body"]
    assert len(body.encode("utf-8")) <= MAX_MESSAGE_BYTES
    titles = {a["articleTitle"] for a in json.loads(body)["articles"]}
    assert titles == {"\U0001f600" * (MAX_TITLE_BYTES // 4)}
