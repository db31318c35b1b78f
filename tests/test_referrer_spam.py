"""Referrer spam: listed hosts (and subdomains) are never counted as referrers; the view is."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.aws import Cloud
from support.events import ws_message

from handlers import aws, views
from handlers.referrer_spam import (
    MAX_LIST_BYTES,
    SpamListError,
    is_spam,
    normalise_host,
    parse_spam_hosts,
    spam_hosts,
    spam_hosts_json,
)
from handlers.settings import SettingsError, settings_from
from handlers.wiring import ENV_REFERRER_SPAM, ENV_STACK

POST = {"message": "views", "articleId": "hello-world", "currentPage": "/posts/hello-world"}
SPAM = frozenset({"semalt.com", "xn--bcher-kva.example"})


@pytest.mark.parametrize(
    "origin",
    ["https://semalt.com", "https://www.semalt.com", "http://a.b.semalt.com:8080", "https://xn--bcher-kva.example"],
)
def test_spam_listed_host_and_its_subdomains_are_spam(origin: str) -> None:
    assert is_spam(origin, SPAM)


@pytest.mark.parametrize(
    "origin", ["https://notsemalt.com", "https://semalt.com.evil.example", "https://news.ycombinator.com", "nonsense"]
)
def test_spam_other_hosts_are_not(origin: str) -> None:
    assert not is_spam(origin, SPAM)


def test_spam_hosts_are_normalised_as_origins_are() -> None:
    assert spam_hosts(["Semalt.COM.", "bücher.example", "semalt.com"]) == ("semalt.com", "xn--bcher-kva.example")


@pytest.mark.parametrize(
    "entry", ["https://semalt.com", "semalt.com/path", "semalt.com:80", "user@semalt.com", "[::1]", "", 5, "a b"]
)
def test_spam_entries_that_are_not_host_names_are_refused(entry: object) -> None:
    with pytest.raises(SpamListError, match=r"\[0\]"):
        spam_hosts([entry])


def test_spam_list_is_bounded_by_lambdas_environment_size() -> None:
    hosts = [f"spam{i}.example" for i in range(MAX_LIST_BYTES // 10)]
    with pytest.raises(SpamListError, match="4 KB"):
        spam_hosts(hosts)


# Labels heavy in multi-byte UTF-8 (each IDNA label grows when punycoded) and plain ones.
_LABEL = st.one_of(
    st.from_regex(r"[a-z][a-z0-9]{0,19}", fullmatch=True),  # a leading letter: not a numeric (IPv4) host
    st.text(alphabet="äöüéèçñøåæœžšřłęąźż日本語中文한국어ру", min_size=1, max_size=12),
)
_HOST = st.lists(_LABEL, min_size=1, max_size=4).map(".".join)


@settings(max_examples=40, deadline=None)
@given(st.lists(_HOST, min_size=50, max_size=120))  # about 1-5 KB: both sides of the cap
def test_spam_lists_are_refused_exactly_when_over_their_byte_budget(hosts: list[str]) -> None:
    """What the stack puts in REFERRER_SPAM is never over the cap in bytes, however much
    UTF-8 the owner wrote; a list is refused for its size only when it is truly over; and the
    handler reads back exactly the hosts config accepted."""
    try:
        normalised = list(dict.fromkeys(normalise_host(host) for host in hosts))
    except SpamListError:
        return  # not a host name (e.g. an IDNA label over 63 bytes): its own test above
    size = len(spam_hosts_json(normalised).encode("utf-8"))
    if size > MAX_LIST_BYTES:
        with pytest.raises(SpamListError, match="4 KB"):
            spam_hosts(hosts)
        return
    accepted = spam_hosts(hosts)
    assert parse_spam_hosts(spam_hosts_json(accepted)) == frozenset(accepted) == frozenset(normalised)
    assert all(host.isascii() for host in accepted), "hosts are stored as IDNA"


def test_spam_environment_variable_parses_and_bad_values_name_it() -> None:
    assert parse_spam_hosts("") == frozenset()
    assert parse_spam_hosts('["semalt.com"]') == {"semalt.com"}
    with pytest.raises(SettingsError, match=ENV_REFERRER_SPAM):
        settings_from({ENV_STACK: "s", ENV_REFERRER_SPAM: '"semalt.com"'})


@pytest.fixture
def spam_listed(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    monkeypatch.setenv(ENV_REFERRER_SPAM, json.dumps(["semalt.com"]))
    aws.reset()
    return cloud


def send(body: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(views.handler(ws_message(body), None)["body"])
    return reply


def test_views_spam_referrer_dropped_and_the_view_still_counted(
    spam_listed: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    assert send({**POST, "referrer": "https://www.semalt.com/best-seo?x=1"})["status"] == "ok"
    [event] = [json.loads(m["Body"]) for m in spam_listed.receive("post_view")]
    assert event["articleId"] == "hello-world" and "referrer" not in event
    assert spam_listed.receive("referrer") == []
    out = capsys.readouterr().out
    [line] = [json.loads(x) for x in out.splitlines()]
    assert line["event"] == "referrer_dropped" and line["reason"] == "referrer_spam"
    assert "semalt" not in out, "the log line says why, not which host"


def test_views_other_referrers_still_counted_with_a_spam_list(spam_listed: Cloud) -> None:
    assert send({**POST, "referrer": "https://news.ycombinator.com/item?id=1"})["status"] == "ok"
    assert [json.loads(m["Body"])["referrer"] for m in spam_listed.receive("referrer")] == [
        "https://news.ycombinator.com"
    ]
