"""Property tests of the schema and the referrer sanitiser (hypothesis, >= 1,000 examples each)."""

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
from handlers.classify import ReferrerError, external_referrer, reduce_referrer
from handlers.schema import MAX_ARTICLE_ID, MAX_TITLE, MAX_URL, ViewMessage, parse_message

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
    assert message.articleId is None or len(message.articleId) <= MAX_ARTICLE_ID
    assert message.articleTitle is None or len(message.articleTitle) <= MAX_TITLE
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
        assert unsafe(title) or len(title) > MAX_TITLE


hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){1,2}", fullmatch=True)
urls = st.builds(
    lambda scheme, user, host, port, path, query, fragment: f"{scheme}://{user}{host}{port}{path}{query}{fragment}",
    st.sampled_from(["http", "https", "HTTPS", "ftp", "javascript", ""]),
    st.sampled_from(["", "alice:secret@", "bob@"]),
    hosts,
    st.sampled_from(["", ":443", ":80", ":8080", ":99999"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30).map(lambda p: "/" + p),
    st.sampled_from(["", "?utm_source=x&email=a@b.c", "?"]),
    st.sampled_from(["", "#section", "#"]),
)


@MANY
@given(st.one_of(urls, nasty_text))
def test_referrer_reduced_to_scheme_host_path(raw: str) -> None:
    try:
        origin, reduced = reduce_referrer(raw)
    except ReferrerError:
        return
    assert origin.split("://")[0] in ("http", "https")
    assert "?" not in reduced and "#" not in reduced
    assert "@" not in origin and "secret" not in origin
    assert reduced.startswith(origin + "/") and len(reduced) <= MAX_URL
    assert origin == origin.lower()


@MANY
@given(urls)
def test_referrer_own_origin_never_counted(raw: str) -> None:
    try:
        origin, _ = reduce_referrer(raw)
    except ReferrerError:
        return
    assert external_referrer(raw, {origin}) is None
    assert external_referrer(raw, {"https://other.invalid"}) is not None


@pytest.mark.parametrize(
    ("raw", "reduced"),
    [
        ("https://user:pw@Example.COM:443/a/b?q=1#f", "https://example.com/a/b"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
    ],
)
def test_referrer_examples(raw: str, reduced: str) -> None:
    assert reduce_referrer(raw)[1] == reduced
