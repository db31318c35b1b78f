"""Property tests of the schema, the referrer sanitiser and page classification (hypothesis, >= 1,000 examples each)."""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from handlers.api import ClientMistake
from handlers.classify import external_referrer
from handlers.origins import normalise_origin, origin_of
from handlers.pages import DEFAULT_PAGE_RULES
from handlers.schema import MAX_ARTICLE_ID, MAX_TITLE, MAX_TITLE_BYTES, ViewMessage, parse_message
from handlers.settings import Settings
from handlers.views import accept_view

MANY = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that deliberately includes control characters and lone surrogates.
nasty_text = st.text(
    alphabet=st.one_of(
        st.characters(codec=None, categories=None),
        st.sampled_from(["\x00", "\x1b", "\x7f", "\x85", "\r", "\n", "\u2028", "\ud800", "\udfff"]),
    ),
    max_size=40,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=8,
)
view_fields = st.fixed_dictionaries(
    {"message": st.just("views")},
    optional={
        "articleId": st.one_of(nasty_text, st.from_regex(r"[a-z0-9-]{1,140}", fullmatch=True), json_values),
        "articleTitle": st.one_of(nasty_text, json_values),
        "currentPage": st.one_of(nasty_text, st.just("/"), json_values),
        "previousPage": nasty_text,
        "refreshed": st.one_of(st.booleans(), json_values),
        "referrer": nasty_text,
        "viewId": st.one_of(nasty_text, st.from_regex(r"[A-Za-z0-9_=:+/\s-]{10,70}", fullmatch=True), json_values),
    },
)


def unsafe(value: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF or unicodedata.category(c) == "Cc" for c in value)


def unsafe_title(value: str) -> bool:
    """A title may not hide text either: no format characters (bidi overrides, zero-width)."""
    return unsafe(value) or any(unicodedata.category(c) == "Cf" for c in value)


@MANY
@given(view_fields)
def test_schema_accepts_only_safe_bounded_text(fields: dict[str, Any]) -> None:
    body = json.dumps(fields)
    try:
        message = parse_message(ViewMessage, body)
    except ClientMistake as mistake:
        assert mistake.code in ("invalid_event", "invalid_json", "too_large")
        assert mistake.detail and "\n" not in mistake.detail
        return
    for value in (message.articleTitle, message.currentPage, message.previousPage, message.referrer):
        assert value is None or not unsafe(value)
    assert message.articleTitle is None or not unsafe_title(message.articleTitle)
    assert message.articleId is None or len(message.articleId) <= MAX_ARTICLE_ID
    assert message.articleTitle is None or len(message.articleTitle) <= MAX_TITLE
    assert message.articleTitle is None or len(message.articleTitle.encode()) <= MAX_TITLE_BYTES
    assert isinstance(message.refreshed, bool)
    assert message.viewId is None or re.fullmatch(r"[A-Za-z0-9_-]{16,64}", message.viewId, re.ASCII)


@MANY
@given(json_values)
def test_schema_never_raises_anything_but_a_client_mistake(value: Any) -> None:
    with contextlib.suppress(ClientMistake):
        parse_message(ViewMessage, json.dumps(value))


@MANY
@given(st.text(max_size=60))
def test_schema_reports_validation_errors_in_one_line(title: str) -> None:
    try:
        ViewMessage.model_validate({"message": "views", "articleTitle": title})
    except ValidationError:
        assert unsafe_title(title) or len(title) > MAX_TITLE or len(title.encode()) > MAX_TITLE_BYTES
    else:
        assert not unsafe_title(title)


hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){1,2}", fullmatch=True)
urls = st.builds(
    lambda scheme, user, host, port, path, query, fragment: f"{scheme}://{user}{host}{port}{path}{query}{fragment}",
    st.sampled_from(["http", "https", "HTTPS", "ftp", "javascript", ""]),
    st.sampled_from(["", "alice:secret@", "bob@"]),
    st.one_of(hosts, hosts.map(str.upper), hosts.map(lambda h: h + "."), st.sampled_from(["[::1]", "127.1", "[0::1"])),
    st.sampled_from(["", ":443", ":80", ":8080", ":99999", ":", ":0x1"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30).map(lambda p: "/" + p),
    st.sampled_from(["", "?utm_source=x&email=a@b.c", "?"]),
    st.sampled_from(["", "#section", "#"]),
)
# Text that starts like a URL and goes on as anything: what URL parsers choke on
# (`http://[::1`, `http://[abc]/`, full-width delimiters such as U+FF03).
url_like = st.builds(
    lambda start, rest: start + rest,
    st.sampled_from(["http://", "https://", "HTTP://[", "https://[", "https://a.example:", "//", "/", "http:"]),
    st.one_of(
        nasty_text,
        st.text(alphabet=st.sampled_from("[]:@/?#.%\\\uff03\uff0f\uff1a\uff20\u3002\u00df0x1aA-_ "), max_size=30),
    ),
)
ORIGIN = re.compile(
    r"^https?://([a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\])(:\d{1,5})?$"
)


@MANY
@given(st.one_of(urls, url_like, nasty_text))
def test_referrer_reduced_to_a_short_normal_origin_or_not_counted(raw: str) -> None:
    referrer = external_referrer(raw, set())
    if referrer is None:
        return
    # The shape admits no "@", "/", "?" or "#" after the scheme: userinfo, path, query and
    # fragment never reach the origin. (Looking for words such as "utm" instead failed
    # whenever a generated host spelled them.)
    assert ORIGIN.match(referrer), referrer
    # A DynamoDB partition key holds at most 2,048 bytes; an origin is short ASCII.
    assert len(referrer.encode("utf-8")) <= 300
    assert origin_of(referrer) == referrer and normalise_origin(referrer) == referrer


@MANY
@given(urls)
def test_referrer_own_origin_never_counted(raw: str) -> None:
    origin = origin_of(raw)
    if origin is None:
        return
    assert external_referrer(raw, {origin}) is None
    assert external_referrer(raw, {"https://other.invalid"}) == origin


@pytest.mark.parametrize(
    ("raw", "reduced"),
    [
        ("https://user:pw@Example.COM:443/a/b?q=1#f", "https://example.com"),
        ("http://example.com", "http://example.com"),
        ("http://example.com:8080/x", "http://example.com:8080"),
        ("https://example.com.:/x", "https://example.com"),
        ("https://B\u00fccher.example/", "https://xn--bcher-kva.example"),
        ("http://[::FFFF:1.2.3.4]:80/", "http://[::ffff:102:304]"),
        ("http://0x7f.1/", "http://127.0.0.1"),
    ],
)
def test_referrer_examples(raw: str, reduced: str) -> None:
    assert external_referrer(raw, set()) == reduced


SETTINGS = Settings(
    stack="test",
    topic_arn="",
    allowed_origins=frozenset({"https://blog.example.com"}),
    page_rules=DEFAULT_PAGE_RULES,
    endpoint_url=None,
)


@MANY
@given(st.one_of(url_like, nasty_text, urls), st.booleans())
def test_classification_answers_every_current_page_by_the_contract(page: str, with_referrer: bool) -> None:
    """Any text as currentPage (and as referrer) is counted, or refused with unknown_page or invalid_event."""
    fields = {"message": "views", "currentPage": page} | ({"referrer": page} if with_referrer else {})
    try:
        event, _ = accept_view(json.dumps(fields), "event-1", 0, SETTINGS)
    except ClientMistake as mistake:
        assert mistake.code in ("unknown_page", "invalid_event")
        return
    assert event.page in {rule.page for rule in DEFAULT_PAGE_RULES}
