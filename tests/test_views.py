"""views: validate -> classify -> read counts -> publish -> reply."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.aws import Cloud
from support.events import post_item, sqs_event, sqs_record, ws_message
from support.faults import fail, idempotency_tokens

from handlers import aws, counter, referrers, views
from handlers.schema import ViewEvent
from handlers.wiring import COUNTED_EVENTS, HOME_AND_PROFILE, POST_COUNT_READER, POST_COUNT_WRITER, REFERRER

POST = {
    "message": "views",
    "articleId": "hello-world",
    "articleTitle": "Hello World",
    "currentPage": "/posts/hello-world",
}


def send(body: str | dict[str, Any], message_id: str = "msg-1") -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(views.handler(ws_message(body, message_id=message_id), None)["body"])
    return reply


def published(cloud: Cloud, queue: str) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in cloud.receive(queue)]


def test_views_post_replies_with_stored_counts(cloud: Cloud) -> None:
    cloud.put(POST_COUNT_READER, post_item("hello-world", 12, 9, "Hello World"))
    assert send(POST) == {
        "message": "views",
        "status": "ok",
        "articleId": "hello-world",
        "articleTitle": "Hello World",
        "totalViews": 12,
        "uniqueViews": 9,
        "readingNow": 1,
    }


def test_views_reply_shows_the_stored_title_not_the_clients(cloud: Cloud) -> None:
    cloud.put(
        POST_COUNT_READER,
        {"articleId": {"S": "hello-world"}, "articleTitle": {"S": "Hello World"}, "totalViews": {"N": "3"}},
    )
    assert send({**POST, "articleTitle": "Renamed by a stranger"})["articleTitle"] == "Hello World"


def test_views_reply_for_a_stored_post_without_title_does_not_echo_the_clients(cloud: Cloud) -> None:
    cloud.put(POST_COUNT_READER, {"articleId": {"S": "hello-world"}, "totalViews": {"N": "3"}})
    assert send({**POST, "articleTitle": "Chosen by a stranger"})["articleTitle"] == ""


def test_views_unknown_post_replies_zero_with_its_title(cloud: Cloud) -> None:
    reply = send(POST)
    assert (reply["totalViews"], reply["uniqueViews"], reply["articleTitle"]) == (0, 0, "Hello World")


def test_views_post_published_to_post_queue_only(cloud: Cloud) -> None:
    send(POST, message_id="IjBa9fNxIAMCJYw=")
    events = published(cloud, "post_view")
    assert [ViewEvent.model_validate(e).eventId for e in events] == ["IjBa9fNxIAMCJYw="]
    assert events[0]["unique"] is True and events[0]["articleTitle"] == "Hello World"
    assert published(cloud, "homepage_view") == [] and published(cloud, "profile_view") == []


def test_views_event_id_is_the_servers_not_the_clients(cloud: Cloud) -> None:
    reply = send({**POST, "eventId": "chosen-by-client"})
    assert reply["error"] == "invalid_event" and published(cloud, "post_view") == []


def test_views_home_page_classified_and_replied(cloud: Cloud) -> None:
    cloud.ddb.put_item(
        TableName=cloud.table(HOME_AND_PROFILE),
        Item={"pageName": {"S": "Home_Page"}, "totalViews": {"N": "40"}, "uniqueViews": {"N": "31"}},
    )
    reply = send({"message": "views", "currentPage": "/"})
    assert reply == {
        "message": "views",
        "status": "ok",
        "page": "Home_Page",
        "totalViews": 40,
        "uniqueViews": 31,
        "readingNow": 1,
    }
    assert [e["page"] for e in published(cloud, "homepage_view")] == ["Home_Page"]


@pytest.mark.parametrize(
    ("path", "page"),
    [("/pages/about", "About_Page"), ("/pages/about/team?x=1", "About_Page"), ("/pages/contacts/", "Contact_Page")],
)
def test_views_profile_pages_go_to_profile_queue(cloud: Cloud, path: str, page: str) -> None:
    assert send({"message": "views", "currentPage": path})["page"] == page
    assert [e["eventType"] for e in published(cloud, "profile_view")] == ["profile_view"]


@pytest.mark.parametrize("fields", [{}, {"currentPage": ""}, {"currentPage": "  "}, {"articleTitle": "T"}])
def test_views_without_article_or_page_is_invalid_and_not_published(cloud: Cloud, fields: dict[str, Any]) -> None:
    reply = send({"message": "views", **fields})
    assert reply == {"message": "error", "error": "invalid_event", "detail": "currentPage: required without articleId"}
    assert all(published(cloud, q) == [] for q in cloud.queue_urls)


@pytest.mark.parametrize("page", ["http://[::1", "http://[abc]/", "https://a\uff03b/", "mailto:x", "pages/about"])
def test_views_crafted_current_page_is_an_unknown_page(cloud: Cloud, page: str) -> None:
    """URL parsers raise ValueError on these; the client must still get a contract reply."""
    assert send({"message": "views", "currentPage": page})["error"] == "unknown_page"
    assert all(published(cloud, q) == [] for q in cloud.queue_urls)


def test_views_unknown_page_refused_and_not_published(cloud: Cloud) -> None:
    reply = send({"message": "views", "currentPage": "/pages/aboutness"})
    assert reply["error"] == "unknown_page"
    assert all(published(cloud, q) == [] for q in cloud.queue_urls)


def test_views_refreshed_counts_as_not_unique(cloud: Cloud) -> None:
    send({**POST, "refreshed": True})
    assert published(cloud, "post_view")[0]["unique"] is False


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("articleId", "a" * 129, "articleId: at most 128 characters"),
        ("articleId", "héllo", "articleId: only letters, digits and . _ ~ : / - are allowed"),
        ("articleTitle", "t" * 301, "articleTitle: at most 300 characters"),
        ("articleTitle", "\U0001f600" * 151, "articleTitle: at most 600 bytes of UTF-8"),
        ("articleTitle", "bad\u0007title", "articleTitle: contains a control character"),
        ("articleTitle", "Hello \u202edlroW", "articleTitle: contains an invisible format character (U+202E)"),
        ("articleTitle", "zero\u200bwidth", "articleTitle: contains an invisible format character (U+200B)"),
        ("currentPage", "/" + "p" * 2048, "currentPage: at most 2048 characters"),
        ("referrer", "https://x.example/\ud800", "referrer: contains a lone surrogate"),
        ("refreshed", "yes", "refreshed: must be true or false"),
        ("articleID", "typo", "articleID: unknown field"),
        ("viewId", "a" * 15, "viewId: 16 to 64 characters"),
        ("viewId", "a" * 65, "viewId: 16 to 64 characters"),
        ("viewId", "a" * 15 + "=", "viewId: only letters, digits, _ and - are allowed"),
        ("viewId", "a" * 15 + ":", "viewId: only letters, digits, _ and - are allowed"),
        ("viewId", "\uff41" * 16, "viewId: only letters, digits, _ and - are allowed"),
        ("viewId", "a" * 16 + "\n", "viewId: only letters, digits, _ and - are allowed"),
        ("viewId", 1234567890123456, "viewId: must be a string"),
    ],
)
def test_views_invalid_field_named_in_error_and_nothing_published(
    cloud: Cloud, field: str, value: Any, detail: str
) -> None:
    reply = send({**POST, field: value})
    assert reply == {"message": "error", "error": "invalid_event", "detail": detail}
    assert published(cloud, "post_view") == []


def test_views_invalid_json_and_too_large(handler_env: None) -> None:
    assert send("{nope")["error"] == "invalid_json"
    assert send('{"message":"views","articleTitle":"' + "x" * 40_000 + '"}')["error"] == "too_large"


@pytest.mark.parametrize(
    "referrer", ["javascript:alert(1)", "android-app://com.google.app/", "https://", "http://[::1", "https://a\uff03b/"]
)
def test_views_referrer_without_an_origin_counts_the_view_but_no_referrer(cloud: Cloud, referrer: str) -> None:
    assert send({**POST, "referrer": referrer})["status"] == "ok"
    assert "referrer" not in published(cloud, "post_view")[0]
    assert published(cloud, "referrer") == []


def test_views_external_referrer_reduced_to_its_origin_and_flagged(cloud: Cloud) -> None:
    send({**POST, "referrer": "https://me:pw@News.YCombinator.com:443/item?id=1#c"})
    assert [e["referrer"] for e in published(cloud, "referrer")] == ["https://news.ycombinator.com"]
    assert published(cloud, "post_view")[0]["referrer"] == "https://news.ycombinator.com"


@pytest.mark.parametrize(
    "referrer",
    ["https://blog.example.com/", "HTTPS://Blog.Example.COM:443/posts/x", "https://blog.example.com./?q=1"],
)
def test_views_own_origin_referrer_not_counted(cloud: Cloud, referrer: str) -> None:
    send({**POST, "referrer": referrer})
    assert published(cloud, "referrer") == []
    assert "referrer" not in published(cloud, "post_view")[0]


def test_views_long_multibyte_referrer_counted_by_origin_and_never_poisons_the_queue(cloud: Cloud) -> None:
    """2,018 characters are 4,018 bytes: as a key it broke DynamoDB's 2,048-byte limit on every delivery."""
    assert send({**POST, "referrer": "https://x.example/" + "\u00e9" * 2000})["status"] == "ok"
    messages = cloud.receive("referrer")
    failed = referrers.handler(sqs_event([sqs_record(m["Body"]) for m in messages]), None)["batchItemFailures"]
    assert failed == []
    assert [(r["referrer"]["S"], r["target"]["S"]) for r in cloud.items(REFERRER)] == [
        ("https://x.example", "post:hello-world")
    ]


def test_views_publish_failure_answers_unavailable(cloud: Cloud) -> None:
    fail(aws.client("sns"), "Publish", "InternalError", status=500)
    assert send(POST)["error"] == "unavailable"


def test_views_read_failure_answers_unavailable_and_publishes_nothing(cloud: Cloud) -> None:
    fail(aws.client("dynamodb"), "GetItem", "ProvisionedThroughputExceededException")
    assert send(POST)["error"] == "unavailable"
    assert published(cloud, "post_view") == []


def test_views_log_lines_carry_nothing_personal(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    fail(aws.client("sns"), "Publish", "InternalError", status=500)
    views.handler(ws_message({**POST, "articleTitle": "line\u2028break"}), None)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines and all(json.loads(line)["event"] for line in lines)
    for secret in ("203.0.113.77", "IjBZ4cx5IAMCJYw=", "Mozilla"):
        assert secret not in out


def test_views_event_carries_api_gateways_receive_time(cloud: Cloud) -> None:
    views.handler(ws_message(POST, received_at_ms=1_795_824_000_123), None)
    assert published(cloud, "post_view")[0]["receivedAt"] == 1_795_824_000_123  # requestTimeEpoch


VIEW_ID = "Zm9vYmFyLWJhei1xdXV4LTEyMw"


def test_views_event_id_derived_from_view_id_not_message_id(cloud: Cloud) -> None:
    send({**POST, "viewId": VIEW_ID}, message_id="IjBa9fNxIAMCJYw=")
    assert [e["eventId"] for e in published(cloud, "post_view")] == [f"v:{VIEW_ID}"]


def test_views_view_id_cannot_take_a_message_ids_event_id(cloud: Cloud) -> None:
    """A viewId spelling a messageId still gets its own eventId: no messageId has a `:`."""
    send(POST, message_id="IjBa9fNxIAMCJYw-")
    send({**POST, "viewId": "IjBa9fNxIAMCJYw-"}, message_id="other")
    assert sorted(e["eventId"] for e in published(cloud, "post_view")) == ["IjBa9fNxIAMCJYw-", "v:IjBa9fNxIAMCJYw-"]


def send_twice(view: dict[str, Any]) -> None:
    """The view, then its resend: another API Gateway message, received 5 s later."""
    for message_id, later_ms in (("first", 0), ("resent", 5_000)):
        event = ws_message(view, message_id=message_id)
        event["requestContext"]["requestTimeEpoch"] += later_ms
        assert json.loads(views.handler(event, None)["body"])["status"] == "ok"


@pytest.mark.parametrize("together", [False, True], ids=["batch_each", "one_batch"])
def test_views_resent_view_id_counts_once(cloud: Cloud, together: bool) -> None:
    mismatched = idempotency_tokens(aws.client("dynamodb"))
    send_twice({**POST, "viewId": VIEW_ID})
    records = [sqs_record(m["Body"]) for m in cloud.receive("post_view")]
    assert len(records) == 2, "both copies were published"
    for batch in [records] if together else [[r] for r in records]:
        assert counter.handler(sqs_event(batch), None) == {"batchItemFailures": []}
    item = cloud.item(POST_COUNT_WRITER, articleId="hello-world")
    assert (item["totalViews"]["N"], item["uniqueViews"]["N"]) == ("1", "1")
    assert [m["markerId"]["S"] for m in cloud.items(COUNTED_EVENTS)] == [f"views#v:{VIEW_ID}"]
    assert mismatched == [], "the resend's transaction reused the first one's ClientRequestToken"


def test_views_without_view_id_a_resend_is_a_new_view(cloud: Cloud) -> None:
    send_twice(POST)
    records = [sqs_record(m["Body"]) for m in cloud.receive("post_view")]
    assert counter.handler(sqs_event(records), None) == {"batchItemFailures": []}
    assert cloud.item(POST_COUNT_WRITER, articleId="hello-world")["totalViews"]["N"] == "2"
