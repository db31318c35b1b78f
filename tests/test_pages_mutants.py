"""Page rules and path normalisation at the edges the other tests leave open: written to
kill the mutants of handlers/pages.py that survived them (tests/MUTATION.md). A page
view classified to the wrong page, or to none, is a view counted wrong."""

from __future__ import annotations

import json

import pytest

from handlers.pages import DEFAULT_PAGE_RULES, PageRule, PageRuleError, classify_page, normalise_path, parse_page_rules


@pytest.mark.parametrize(
    ("current_page", "path"),
    [
        ("/pages/about#team", "/pages/about"),
        ("/pages/about#team#more", "/pages/about"),
        ("/pages/about?a=1?b=2", "/pages/about"),
        ("/pages/about?a=1#x?y", "/pages/about"),
        ("https://blog.example.com", "/"),
        ("https://blog.example.com?utm=x", "/"),
        ("/pages/about/", "/pages/about"),
        ("/tags/X//", "/tags/X"),
    ],
)
def test_pages_normalise_path_drops_every_query_and_fragment(current_page: str, path: str) -> None:
    assert normalise_path(current_page) == path


def test_pages_full_url_without_a_path_is_the_home_page() -> None:
    rule = classify_page("https://blog.example.com", DEFAULT_PAGE_RULES)
    assert rule is not None and rule.page == "Home_Page"


@pytest.mark.parametrize("rule_path", ["/docs/", "/docs/X/"])
def test_pages_prefix_rule_written_with_a_trailing_slash_matches_whole_segments(rule_path: str) -> None:
    rule = PageRule(rule_path, "prefix", "Docs", "profile_view")
    base = rule_path.rstrip("/")
    assert rule.matches(base) and rule.matches(base + "/intro")
    assert not rule.matches(base + "ument")


RULE = {"path": "/x", "match": "exact", "page": "X", "eventType": "profile_view"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", r"^PAGE_RULES: not JSON \("),
        (json.dumps(["a rule"]), r"^PAGE_RULES\[0\]: expected an object$"),
        (json.dumps([RULE, {**RULE, "match": "glob"}]), r'^PAGE_RULES\[1\]\.match: must be "exact" or "prefix"$'),
        (json.dumps([{**RULE, "page": "no spaces"}]), r"^PAGE_RULES\[0\]\.page: 1-64 letters"),
        (json.dumps([{**RULE, "page": 7}]), r"^PAGE_RULES\[0\]\.page: 1-64 letters"),
    ],
)
def test_pages_malformed_rule_names_the_rule_and_field(raw: str, message: str) -> None:
    with pytest.raises(PageRuleError, match=message):
        parse_page_rules(raw)
