"""Bots at the door: $connect refuses known crawlers (handlers/bots.py), admits browsers."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from support.aws import BLOG_ORIGIN
from support.events import sample, ws_connect

from handlers import bots, connect

# Browsers people read with (desktop, mobile, in-app): never refused; and crawlers that are.
USER_AGENTS = sample("user_agents")
BROWSERS: list[str] = USER_AGENTS["browsers"]
CRAWLERS: list[str] = USER_AGENTS["crawlers"]


def listed() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(bots.list_path().read_text(encoding="utf-8"))
    return entries


def connect_as(user_agent: str | None) -> int:
    event = ws_connect(BLOG_ORIGIN)
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers.pop("User-Agent")
    if user_agent is not None:
        event["headers"]["User-Agent"] = user_agent
        event["multiValueHeaders"]["User-Agent"] = [user_agent]
    return int(connect.handler(event, None)["statusCode"])


@pytest.mark.parametrize("user_agent", BROWSERS)
def test_connect_admits_a_browser(handler_env: None, user_agent: str) -> None:
    assert connect_as(user_agent) == 200


@pytest.mark.parametrize("user_agent", CRAWLERS)
def test_connect_refuses_a_known_crawler(handler_env: None, user_agent: str) -> None:
    assert connect_as(user_agent) == 403


@pytest.mark.parametrize("user_agent", [None, "", "   "])
def test_connect_refuses_a_missing_user_agent(handler_env: None, user_agent: str | None) -> None:
    assert connect_as(user_agent) == 403


def test_connect_user_agent_header_name_is_case_insensitive(handler_env: None) -> None:
    event = ws_connect(BLOG_ORIGIN)
    event["headers"].pop("User-Agent")
    event["multiValueHeaders"].pop("User-Agent")
    event["headers"]["user-agent"] = CRAWLERS[0]
    assert connect.handler(event, None)["statusCode"] == 403


def test_connect_refusal_is_logged_by_reason_without_the_user_agent(
    handler_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert connect_as(CRAWLERS[0]) == 403
    out = capsys.readouterr().out
    [line] = [json.loads(x) for x in out.splitlines()]
    assert line["event"] == "connect_refused" and line["reason"] == "bot"
    assert "Googlebot" not in out and "203.0.113.77" not in out and "IjBZ4cx5IAMCJYw=" not in out


def test_connect_foreign_origin_is_logged_as_origin_before_the_user_agent_is_read(
    handler_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert connect.handler(ws_connect("https://evil.example"), None)["statusCode"] == 403
    assert json.loads(capsys.readouterr().out)["reason"] == "origin"


def test_bots_every_listed_example_is_a_crawler() -> None:
    """The package ships example user agents for its patterns: each must be refused."""
    crawlers = bots.known_crawlers()
    missed = [ua for entry in listed() for ua in entry.get("instances", []) if not crawlers.matches(ua)]
    assert missed == []
    assert sum(len(entry.get("instances", [])) for entry in listed()) > 1000


def test_bots_plain_text_patterns_match_exactly_their_text() -> None:
    """A pattern turned into a substring must mean the same as the regular expression."""
    patterns = [entry["pattern"] for entry in listed()]
    plain = {p: bots.plain_text(p) for p in patterns}
    assert sum(text is not None for text in plain.values()) > len(patterns) * 0.8, "most patterns are plain text"
    for pattern, text in plain.items():
        if text is not None:
            assert re.fullmatch(pattern, text), (pattern, text)
            assert re.escape(text).replace("\\", "") == pattern.replace("\\", ""), (pattern, text)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("Googlebot\\/", "Googlebot/"),
        ("bingbot", "bingbot"),
        ("^curl", None),
        ("Bot\\d", None),
        ("a[bc]", None),
        ("x|y", None),
        ("trailing\\", None),
        ("", None),
    ],
)
def test_bots_plain_text_recognises_only_plain_patterns(pattern: str, text: str | None) -> None:
    assert bots.plain_text(pattern) == text


def test_bots_regex_patterns_still_match() -> None:
    crawlers = bots.crawler_list(["^curl", "Googlebot\\/"])
    assert crawlers.matches("curl/8") and crawlers.matches("x Googlebot/2") and not crawlers.matches("x curl/8")


def test_bots_a_crawler_beyond_the_length_cap_is_not_searched_for() -> None:
    """The cap bounds the work; no browser sends a kilobyte of user agent."""
    crawlers = bots.crawler_list(["Googlebot"])
    assert crawlers.matches("a" * 10 + "Googlebot")
    assert not crawlers.matches("a" * bots.MAX_USER_AGENT + "Googlebot")


def test_bots_patterns_read_without_decoding_the_file_are_the_lists_patterns() -> None:
    assert bots.list_patterns(bots.list_path()) == [entry["pattern"] for entry in listed()]


def test_bots_plain_text_with_an_escaped_backslash() -> None:
    assert bots.plain_text("a\\\\b\\/c") == "a\\b/c"
