"""Posts and pages commit apart in one invocation: a failure in either must be reported,
whatever the other did. Kills the handlers/counter.py survivors of the mutation run
(tests/MUTATION.md)."""

from __future__ import annotations

from typing import Any

from support.aws import Cloud
from support.events import sqs_event, sqs_record, view_event
from support.faults import fail

from handlers import aws, counter
from handlers.schema import ViewEvent
from handlers.sqs import Delivered


def on_posts(params: dict[str, Any]) -> bool:
    return any("articleId" in i.get("Update", {}).get("Key", {}) for i in params["TransactItems"])


def test_counter_failed_post_write_reported_when_the_pages_of_the_batch_commit(cloud: Cloud) -> None:
    fail(aws.client("dynamodb"), "TransactWriteItems", "ProvisionedThroughputExceededException", when=on_posts)
    post = sqs_record(view_event())
    page = sqs_record(view_event(eventType="homepage_view", articleId=None, articleTitle=None, page="Home_Page"))
    response = counter.handler(sqs_event([post, page]), None)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [post["messageId"]]


def test_counter_post_view_without_a_title_sets_none() -> None:
    event = ViewEvent.model_validate(view_event(articleTitle=None))
    key, adds, sets, overwrites = counter.view_increment(Delivered("m1", event))
    assert (key, adds, sets, overwrites) == (
        {"articleId": {"S": "hello-world"}},
        {"totalViews": 1, "uniqueViews": 1},
        {},
        {},
    )
