"""The event a classified view becomes, without AWS: kills the handlers/classify.py
survivors of the mutation run (tests/MUTATION.md)."""

from __future__ import annotations

from handlers.classify import classify, view_event
from handlers.pages import DEFAULT_PAGE_RULES
from handlers.schema import ViewMessage


def test_classify_page_view_event_drops_a_title_the_client_sent() -> None:
    """A title belongs to a post; on a page view it would be stored nowhere and only
    make the event larger, so it is not published."""
    message = ViewMessage.model_validate({"message": "views", "currentPage": "/", "articleTitle": "Stray"})
    event = view_event(message, classify(message, DEFAULT_PAGE_RULES), "e1", 1_800_000_000_000, None)
    assert (event.eventType, event.page) == ("homepage_view", "Home_Page")
    assert (event.articleId, event.articleTitle) == (None, None)


def test_classify_post_view_event_keeps_the_title() -> None:
    message = ViewMessage.model_validate({"message": "views", "articleId": "a-post", "articleTitle": "A Post"})
    event = view_event(message, classify(message, DEFAULT_PAGE_RULES), "e1", 1_800_000_000_000, None)
    assert (event.eventType, event.articleId, event.articleTitle, event.page) == ("post_view", "a-post", "A Post", None)
