"""Settings from the environment and the page rules."""

from __future__ import annotations

import json

import pytest

from handlers.pages import DEFAULT_PAGE_RULES, PageRuleError, classify_page, page_rules_json, parse_page_rules
from handlers.settings import SettingsError, settings_from

BASE = {"STACK": "stage", "ALLOWED_ORIGINS": '["https://Blog.Example.com/"]'}


def test_settings_table_names_prefixed_with_stack() -> None:
    assert settings_from(BASE).table("PostCountWriter") == "stage-PostCountWriter"


def test_settings_origins_normalised() -> None:
    assert settings_from(BASE).allowed_origins == frozenset({"https://blog.example.com"})


def test_settings_origins_normalised_by_default_port_and_trailing_dot() -> None:
    env = {
        **BASE,
        "ALLOWED_ORIGINS": '["https://blog.example.com:443", "https://BLOG.example.com.", "http://127.1:80"]',
    }
    assert settings_from(env).allowed_origins == frozenset({"https://blog.example.com", "http://127.0.0.1"})


@pytest.mark.parametrize("origin", ["https://blog.example.com/posts", "null", "https://[::1"])
def test_settings_origin_that_is_not_one_names_its_index(origin: str) -> None:
    with pytest.raises(SettingsError, match=r"^ALLOWED_ORIGINS\[1\]: "):
        settings_from({**BASE, "ALLOWED_ORIGINS": json.dumps(["https://blog.example.com", origin])})


def test_page_rules_at_most_twenty_so_stats_replies_stay_bounded() -> None:
    rule = {"path": "/x", "match": "exact", "page": "X", "eventType": "profile_view"}
    assert len(parse_page_rules(json.dumps([rule] * 20))) == 20
    with pytest.raises(PageRuleError, match="at most 20 rules"):
        parse_page_rules(json.dumps([rule] * 21))


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ALLOWED_ORIGINS": "[]"}, "STACK"),
        ({**BASE, "ALLOWED_ORIGINS": "https://a.example"}, "ALLOWED_ORIGINS"),
        ({**BASE, "ALLOWED_ORIGINS": '{"a": 1}'}, "ALLOWED_ORIGINS"),
        ({**BASE, "PAGE_RULES": "[]"}, "PAGE_RULES"),
        (
            {**BASE, "PAGE_RULES": '[{"path": "/", "match": "exact", "page": "Home", "eventType": "post_view"}]'},
            "PAGE_RULES[0].eventType",
        ),
        (
            {**BASE, "PAGE_RULES": '[{"path": "x", "match": "exact", "page": "Home", "eventType": "homepage_view"}]'},
            "PAGE_RULES[0].path",
        ),
    ],
)
def test_settings_malformed_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{named.replace('[', '.').replace(']', '.')}"):
        settings_from(env)


def test_settings_default_page_rules_are_the_original_blogs() -> None:
    assert settings_from(BASE).page_rules == DEFAULT_PAGE_RULES


def test_page_rules_round_trip() -> None:
    assert parse_page_rules(page_rules_json(DEFAULT_PAGE_RULES)) == DEFAULT_PAGE_RULES


def test_page_rules_custom_from_environment() -> None:
    rules = json.dumps([{"path": "/now", "match": "prefix", "page": "Now_Page", "eventType": "profile_view"}])
    settings = settings_from({**BASE, "PAGE_RULES": rules})
    rule = classify_page("/now/2026", settings.page_rules)
    assert rule is not None and rule.page == "Now_Page"
    assert classify_page("/", settings.page_rules) is None


@pytest.mark.parametrize(
    ("path", "page"),
    [
        ("/", "Home_Page"),
        ("/?utm=x", "Home_Page"),
        ("https://blog.example.com/", "Home_Page"),
        ("/pages/about", "About_Page"),
        ("//pages//about/", "About_Page"),
        ("/pages/contacts/form", "Contact_Page"),
        ("/pages/aboutness", None),
        ("/posts/x", None),
        ("/index.html", None),
        ("https://blog.example.com/pages/about?x#y", "About_Page"),
        ("http://[::1]/pages/about", "About_Page"),
        ("http://[::1/pages/about", None),
        ("http://[abc]/", None),
        ("https://a\uff03b/", None),
        ("pages/about", None),
        ("", None),
    ],
)
def test_page_rules_default_matching(path: str, page: str | None) -> None:
    rule = classify_page(path, DEFAULT_PAGE_RULES)
    assert (rule.page if rule else None) == page
