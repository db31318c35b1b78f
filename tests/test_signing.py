"""Signed posts: with the setting on, only post views the blog signed are counted, and a
signed title replaces the stored one; page views and unsigned stacks are unchanged."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from support.aws import Cloud
from support.events import post_item, sqs_event, sqs_record, view_event, ws_message

from handlers import aws, counter, views
from handlers.ledger import aggregate, update_item
from handlers.schema import ViewEvent
from handlers.settings import SettingsError, settings_from
from handlers.signing import post_signature, signature_valid
from handlers.sqs import Delivered
from handlers.wiring import ENV_POST_SECRETS, ENV_STACK, POST_COUNT_WRITER

SECRET = "s" * 43
PREVIOUS = "p" * 43
POST = {"message": "views", "articleId": "hello-world", "articleTitle": "Hello World"}


def signed(secret: str = SECRET, **fields: Any) -> dict[str, Any]:
    view = {**POST, **fields}
    return {**view, "articleSig": post_signature(secret, view["articleId"], view.get("articleTitle", ""))}


@pytest.fixture
def signing(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    monkeypatch.setenv(ENV_POST_SECRETS, json.dumps([SECRET, PREVIOUS]))
    aws.reset()
    return cloud


def send(body: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(views.handler(ws_message(body), None)["body"])
    return reply


def published(cloud: Cloud) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in cloud.receive("post_view")]


def test_signature_is_hmac_sha256_of_the_documented_message() -> None:
    """What the README's Python and Node snippets compute."""
    expected = hmac.new(SECRET.encode(), b"blog-analytics:post:v1\nhello-world\nHello World", hashlib.sha256)
    assert post_signature(SECRET, "hello-world", "Hello World") == expected.hexdigest()


def test_signature_binds_id_and_title_and_accepts_either_secret() -> None:
    sig = post_signature(PREVIOUS, "a", "T")
    assert signature_valid([SECRET, PREVIOUS], "a", "T", sig)
    assert not signature_valid([SECRET], "a", "T", sig)
    assert not signature_valid([SECRET, PREVIOUS], "a", "T2", sig)
    assert not signature_valid([SECRET, PREVIOUS], "b", "T", sig)
    assert not signature_valid([SECRET, PREVIOUS], "a", "T", None)


def test_views_signed_post_counted_with_its_title_marked_signed(signing: Cloud) -> None:
    assert send(signed())["status"] == "ok"
    [event] = published(signing)
    assert event["articleId"] == "hello-world" and event["titleSigned"] is True


def test_views_post_signed_with_the_previous_secret_counted_during_a_rotation(signing: Cloud) -> None:
    assert send(signed(PREVIOUS))["status"] == "ok"
    assert len(published(signing)) == 1


@pytest.mark.parametrize(
    "body",
    [
        POST,  # no signature: an invented post
        {**signed(), "articleTitle": "Renamed by a stranger"},
        {**signed(), "articleId": "invented-post"},
        signed("x" * 43),  # another secret
        {k: v for k, v in signed().items() if k != "articleTitle"},  # the title was signed
    ],
    ids=["unsigned", "title_changed", "id_changed", "wrong_secret", "title_dropped"],
)
def test_views_post_without_a_valid_signature_refused_and_not_counted(
    signing: Cloud, capsys: pytest.CaptureFixture[str], body: dict[str, Any]
) -> None:
    assert send(body) == {
        "message": "error",
        "error": "unsigned_post",
        "detail": "this post view carries no valid articleSig",
    }
    assert published(signing) == []
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["event"], x["reason"]) for x in lines] == [("view_refused", "unsigned")]


def test_views_page_view_needs_no_signature(signing: Cloud) -> None:
    assert send({"message": "views", "currentPage": "/"})["status"] == "ok"
    assert [json.loads(m["Body"])["page"] for m in signing.receive("homepage_view")] == ["Home_Page"]


def test_views_without_signing_the_signature_is_ignored(cloud: Cloud) -> None:
    assert send({**POST, "articleSig": "0" * 64})["status"] == "ok"
    assert send(POST)["status"] == "ok"
    assert all("titleSigned" not in event for event in published(cloud))


@pytest.mark.parametrize("sig", ["", "A" * 64, "0" * 63, "0" * 65, "g" * 64, 5])
def test_views_malformed_signature_is_invalid_event(signing: Cloud, sig: object) -> None:
    reply = send({**POST, "articleSig": sig})
    assert reply["error"] == "invalid_event" and reply["detail"].startswith("articleSig: ")


@pytest.mark.parametrize("raw", ['["short"]', "[1]", '["' + "a" * 40 + '", "b", "c"]', "{"])
def test_settings_bad_secrets_refused_without_quoting_them(raw: str) -> None:
    with pytest.raises(SettingsError) as failure:
        settings_from({ENV_STACK: "s", ENV_POST_SECRETS: raw})
    assert "short" not in str(failure.value) and "aaaa" not in str(failure.value)


# ---- the counter: a signed title replaces the stored one, exactly once ---------------------


def count(*events: dict[str, Any]) -> list[str]:
    failures = counter.handler(sqs_event([sqs_record(e) for e in events]), None)["batchItemFailures"]
    return [f["itemIdentifier"] for f in failures]


def test_counter_signed_title_replaces_a_strangers_title(cloud: Cloud) -> None:
    cloud.put(POST_COUNT_WRITER, post_item("hello-world", 3, title="Invented by a stranger"))
    assert count(view_event(articleTitle="Hello World", titleSigned=True)) == []
    item = cloud.item(POST_COUNT_WRITER, articleId="hello-world")
    assert item["articleTitle"]["S"] == "Hello World" and item["totalViews"]["N"] == "4"


def test_counter_unsigned_title_never_replaces_the_stored_one(cloud: Cloud) -> None:
    cloud.put(POST_COUNT_WRITER, post_item("hello-world", 3, title="Hello World"))
    assert count(view_event(articleTitle="Renamed")) == []
    assert cloud.item(POST_COUNT_WRITER, articleId="hello-world")["articleTitle"]["S"] == "Hello World"


def test_counter_signed_view_redelivered_counts_once(cloud: Cloud) -> None:
    event = view_event("e1", articleTitle="Hello World", titleSigned=True)
    assert count(event) == [] and count(event, event) == []
    assert cloud.item(POST_COUNT_WRITER, articleId="hello-world")["totalViews"]["N"] == "1"


def test_ledger_signed_and_unsigned_titles_in_one_batch_set_the_attribute_once() -> None:
    events = [
        view_event("a", receivedAt=1, articleTitle="Unsigned"),
        view_event("b", receivedAt=2, articleTitle="Old signed", titleSigned=True),
        view_event("c", receivedAt=3, articleTitle="New signed", titleSigned=True),
    ]
    deliveries = [Delivered(f"m{i}", ViewEvent.model_validate(e)) for i, e in enumerate(events)]
    for order in (deliveries, deliveries[::-1]):
        [write] = aggregate(order, counter.view_increment)
        assert write.sets == {} and write.overwrites == {"articleTitle": "New signed"}
        update = update_item("t", write)["Update"]
        assert update["UpdateExpression"] == "ADD #a0 :a0, #a1 :a1 SET #o0 = :o0"
