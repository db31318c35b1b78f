"""Page rules: which non-post paths are counted, under which name and event type.

Pure. The defaults are the original blog's; a stack overrides them with the
PAGE_RULES environment variable, a JSON list such as
`[{"path": "/", "match": "exact", "page": "Home_Page", "eventType": "homepage_view"}]`.
"""

from __future__ import annotations

import json
import re
from typing import Literal, NamedTuple, cast

from handlers.origins import origin_of
from handlers.wiring import ENV_PAGE_RULES, EVENT_TYPES, EventType

PAGE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Every rule's page is in every stats reply, which must fit API Gateway's 128 KB.
MAX_PAGE_RULES = 20
# `scheme://authority`: what precedes the path of a full URL. A path, even `//x`,
# starts with `/` and is taken as it is.
_URL_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\\]*")


class PageRuleError(ValueError):
    """PAGE_RULES is malformed; the message names the rule and the field."""


class PageRule(NamedTuple):
    path: str
    match: Literal["exact", "prefix"]
    page: str
    event_type: EventType

    def matches(self, path: str) -> bool:
        if self.match == "exact":
            return path == self.path
        # Prefix rules match whole path segments: /pages/about and /pages/about/team,
        # not /pages/aboutness.
        base = self.path.rstrip("/")
        return path == base or path.startswith(base + "/")


DEFAULT_PAGE_RULES: tuple[PageRule, ...] = (
    PageRule("/", "exact", "Home_Page", "homepage_view"),
    PageRule("/pages/about", "prefix", "About_Page", "profile_view"),
    PageRule("/pages/contacts", "prefix", "Contact_Page", "profile_view"),
)


def normalise_path(current_page: str) -> str | None:
    """The path part of what the client sent: query and fragment dropped, `//` folded.

    A full http(s) URL is accepted too (its path is used), so a client sending
    `location.href` still counts; text that is neither a path nor such a URL
    (`http://[::1`, `mailto:x`) has no path: None. The path is cut out by string
    work and the host checked by origins.parse_origin, which raises nothing but
    OriginError, whatever it is given.
    """
    path = current_page.split("#", 1)[0].split("?", 1)[0]
    if not path.startswith("/"):
        url = _URL_PREFIX.match(path)
        if url is None or origin_of(path) is None:
            return None
        path = path[url.end() :] or "/"
    path = re.sub(r"/{2,}", "/", path)
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path


def classify_page(current_page: str, rules: tuple[PageRule, ...]) -> PageRule | None:
    """The first rule that matches the page's path, or None (an unknown page)."""
    path = normalise_path(current_page)
    if path is None:
        return None
    return next((rule for rule in rules if rule.matches(path)), None)


def _rule_from(index: int, raw: object) -> PageRule:
    where = f"{ENV_PAGE_RULES}[{index}]"
    if not isinstance(raw, dict):
        raise PageRuleError(f"{where}: expected an object")
    path, match, page, event_type = (raw.get(k) for k in ("path", "match", "page", "eventType"))
    if not isinstance(path, str) or not path.startswith("/"):
        raise PageRuleError(f"{where}.path: must be a string starting with /")
    if match not in ("exact", "prefix"):
        raise PageRuleError(f'{where}.match: must be "exact" or "prefix"')
    if not isinstance(page, str) or not PAGE_NAME.match(page):
        raise PageRuleError(f"{where}.page: 1-64 letters, digits, _ . or -")
    if event_type not in EVENT_TYPES or event_type == "post_view":
        raise PageRuleError(f'{where}.eventType: must be "homepage_view" or "profile_view"')
    return PageRule(path, cast(Literal["exact", "prefix"], match), page, cast(EventType, event_type))


def parse_page_rules(raw: str) -> tuple[PageRule, ...]:
    """PAGE_RULES JSON to rules, or PageRuleError naming the first bad field."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise PageRuleError(f"{ENV_PAGE_RULES}: not JSON ({exc.msg})") from None
    if not isinstance(value, list) or not value:
        raise PageRuleError(f"{ENV_PAGE_RULES}: expected a non-empty JSON list of rules")
    if len(value) > MAX_PAGE_RULES:
        raise PageRuleError(f"{ENV_PAGE_RULES}: at most {MAX_PAGE_RULES} rules")
    return tuple(_rule_from(i, r) for i, r in enumerate(value))


def page_rules_json(rules: tuple[PageRule, ...]) -> str:
    """The inverse of parse_page_rules, for deployers that set the environment."""
    return json.dumps([{"path": r.path, "match": r.match, "page": r.page, "eventType": r.event_type} for r in rules])
