"""Settings read once from the environment into a typed object.

Handlers call `load_settings()` when invoked: the first call reads the environment and
the result is kept for the container's life (tests forget it with `aws.reset()`).
Importing a module reads nothing. Handlers pass plain values on; no other module reads
`os.environ`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from typing import NamedTuple

from handlers.origins import OriginError, normalise_origin
from handlers.pages import DEFAULT_PAGE_RULES, PageRule, PageRuleError, parse_page_rules
from handlers.referrer_spam import SpamListError, parse_spam_hosts
from handlers.signing import check_secret
from handlers.wiring import (
    DEFAULT_LIVE_INTERVAL_SECONDS,
    ENV_ALERT_TOPIC_ARN,
    ENV_ALERT_VIEWS_PER_HOUR,
    ENV_ALLOWED_ORIGINS,
    ENV_CONNECTIONS_ENDPOINT,
    ENV_ENDPOINT_URL,
    ENV_LIVE_INTERVAL,
    ENV_PAGE_RULES,
    ENV_POST_SECRETS,
    ENV_REFERRER_SPAM,
    ENV_STACK,
    ENV_TOPIC_ARN,
    ENV_VIEWS_PER_CONNECTION,
    physical_table_name,
)


class SettingsError(ValueError):
    """The environment does not describe a usable deployment."""


class Settings(NamedTuple):
    stack: str
    topic_arn: str
    allowed_origins: frozenset[str]
    page_rules: tuple[PageRule, ...]
    endpoint_url: str | None
    alert_topic_arn: str = ""
    """The owner's alert topic; empty: no alerts."""
    alert_views_per_hour: int = 0
    """Views of a post or page within an hour that send an alert; 0: none."""
    connections_endpoint: str | None = None
    """Where pushes go (@connections); None where nothing pushes."""
    live_interval_seconds: int = DEFAULT_LIVE_INTERVAL_SECONDS
    """The stack's liveIntervalSeconds; 0: live counts off (no pushes, no readingNow)."""
    referrer_spam: frozenset[str] = frozenset()
    """Hosts (and their subdomains) whose referrers are never counted (handlers/referrer_spam.py)."""
    views_per_connection: int = 0
    """Views one connection may send before `rate_limited` (handlers/connections.py); 0: no budget."""
    post_secrets: tuple[str, ...] = ()
    """Secrets a post view's signature may be made with; none: posts are not signed (handlers/signing.py)."""

    @property
    def live_counts(self) -> bool:
        """Pushes and readingNow; off, nothing follows a connection (wiring.with_live_interval)."""
        return self.live_interval_seconds > 0

    @property
    def signed_posts(self) -> bool:
        return bool(self.post_secrets)

    def table(self, logical_name: str) -> str:
        return physical_table_name(self.stack, logical_name)


def parse_allowed_origins(raw: str) -> frozenset[str]:
    """A JSON list of origins such as `["https://blog.example.com"]`."""
    try:
        value = json.loads(raw) if raw else []
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{ENV_ALLOWED_ORIGINS}: not JSON ({exc.msg})") from None
    if not isinstance(value, list) or not all(isinstance(o, str) and o for o in value):
        raise SettingsError(f'{ENV_ALLOWED_ORIGINS}: expected a JSON list such as ["https://blog.example.com"]')
    origins: set[str] = set()
    for index, origin in enumerate(value):
        try:
            origins.add(normalise_origin(origin))
        except OriginError as exc:
            raise SettingsError(f"{ENV_ALLOWED_ORIGINS}[{index}]: {origin[:100]!r} {exc}") from None
    return frozenset(origins)


def parse_views_per_hour(raw: str) -> int:
    """A whole number of views, 0 (or nothing) for no alerts."""
    return _whole_views(ENV_ALERT_VIEWS_PER_HOUR, raw, example=500)


def _whole_views(name: str, raw: str, example: int) -> int:
    """A whole number of views from the environment variable `name`; 0 when unset."""
    if not raw:
        return 0
    if not raw.isascii() or not raw.isdigit():
        raise SettingsError(f"{name}: expected a whole number of views such as {example}, got {raw[:20]!r}")
    return int(raw)


def parse_post_secrets(raw: str) -> tuple[str, ...]:
    """A JSON list of one or two secrets (the current one, then the previous during a rotation)."""
    try:
        value = json.loads(raw) if raw else []
    except json.JSONDecodeError:
        raise SettingsError(f"{ENV_POST_SECRETS}: not JSON") from None  # the message could quote a secret
    if not isinstance(value, list) or len(value) > 2:
        raise SettingsError(f"{ENV_POST_SECRETS}: expected a JSON list of at most two secrets")
    try:
        return tuple(check_secret(secret) for secret in value)
    except ValueError as exc:
        raise SettingsError(f"{ENV_POST_SECRETS}: every secret {exc}") from None


def settings_from(env: Mapping[str, str]) -> Settings:
    """Pure: an environment mapping to Settings, or SettingsError naming the variable."""
    stack = env.get(ENV_STACK, "")
    if not stack:
        raise SettingsError(f"{ENV_STACK}: required (the stack name that prefixes table names)")
    raw_rules = env.get(ENV_PAGE_RULES, "")
    try:
        page_rules = parse_page_rules(raw_rules) if raw_rules else DEFAULT_PAGE_RULES
    except PageRuleError as exc:
        raise SettingsError(str(exc)) from None
    try:
        referrer_spam = parse_spam_hosts(env.get(ENV_REFERRER_SPAM, ""))
    except SpamListError as exc:
        raise SettingsError(f"{ENV_REFERRER_SPAM}: {exc}") from None
    return Settings(
        stack=stack,
        topic_arn=env.get(ENV_TOPIC_ARN, ""),
        allowed_origins=parse_allowed_origins(env.get(ENV_ALLOWED_ORIGINS, "")),
        page_rules=page_rules,
        endpoint_url=env.get(ENV_ENDPOINT_URL) or None,
        alert_topic_arn=env.get(ENV_ALERT_TOPIC_ARN, ""),
        alert_views_per_hour=parse_views_per_hour(env.get(ENV_ALERT_VIEWS_PER_HOUR, "")),
        connections_endpoint=env.get(ENV_CONNECTIONS_ENDPOINT) or None,
        live_interval_seconds=_live_interval(env.get(ENV_LIVE_INTERVAL, "")),
        referrer_spam=referrer_spam,
        post_secrets=parse_post_secrets(env.get(ENV_POST_SECRETS, "")),
        views_per_connection=_whole_views(ENV_VIEWS_PER_CONNECTION, env.get(ENV_VIEWS_PER_CONNECTION, ""), 100),
    )


def _live_interval(raw: str) -> int:
    try:
        seconds = int(raw) if raw else DEFAULT_LIVE_INTERVAL_SECONDS
    except ValueError:
        raise SettingsError(f"{ENV_LIVE_INTERVAL}: not a whole number of seconds") from None
    if seconds < 0:
        raise SettingsError(f"{ENV_LIVE_INTERVAL}: must not be negative")
    return seconds


@cache
def load_settings() -> Settings:
    return settings_from(os.environ)
