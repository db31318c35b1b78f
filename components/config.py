"""The stack configuration, validated into one typed object.

Pure: `parse_config(get)` takes a getter (in the program `pulumi.Config().get`) so tests
need no Pulumi runtime. Every error names the key and shows a line that would work in
`Pulumi.<stack>.yaml`, because the person reading it is about to edit that file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeGuard

from handlers.origins import OriginError, normalise_origin, parse_origin
from handlers.pages import PageRule, PageRuleError, parse_page_rules

NAMESPACE = "blog-analytics"

# The only values CloudWatch Logs accepts for retentionInDays.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

EXAMPLES = {
    "allowedOrigins": '["https://blog.example.com"]',
    "throttling": "{burstLimit: 100, rateLimit: 50}",
    "logRetentionDays": "30",
    "batching": "{batchSize: 10, batchingWindowSeconds: 1, maximumConcurrency: 5}",
    "pageRules": '[{path: "/", match: exact, page: Home_Page, eventType: homepage_view}]',
    "protect": "true",
    "accessLogs": "true",
    "createApiGatewayAccount": "false",
}

LOCAL_HOSTS = ("localhost", "127.0.0.1")
DEFAULT_MAXIMUM_CONCURRENCY = 5


class ConfigError(ValueError):
    """The stack configuration is missing a key or holds a value the program cannot use."""


@dataclass(frozen=True)
class Throttling:
    """Stage-wide WebSocket message throttling."""

    burst_limit: int
    """Requests API Gateway admits in a burst before throttling."""
    rate_limit: float
    """Steady-state requests per second."""


@dataclass(frozen=True)
class Batching:
    """How the queue consumers are fed; None means the wiring table's value per queue."""

    batch_size: int | None = None
    """Messages per invocation (1..10000; above 10 needs a batching window)."""
    batching_window_seconds: int | None = None
    """Seconds Lambda waits to fill a batch (0..300)."""
    maximum_concurrency: int = DEFAULT_MAXIMUM_CONCURRENCY
    """Concurrent invocations per queue (2..1000), so a burst cannot exhaust the account."""


@dataclass(frozen=True)
class StackConfig:
    """Everything a stack may configure; built only by parse_config."""

    allowed_origins: tuple[str, ...]
    """Origins whose pages may open the WebSocket (checked on $connect)."""
    throttling: Throttling
    """Stage throttling."""
    log_retention_days: int
    """Retention of every log group the stack creates."""
    batching: Batching
    """Queue consumer batching."""
    page_rules: tuple[PageRule, ...] | None
    """Page rules for the views function; None keeps the handlers' defaults."""
    protect: bool
    """Deletion protection, point-in-time recovery and Pulumi protect on the tables."""
    access_logs: bool
    """Stage access logs; they need the account's API Gateway CloudWatch role (off by default,
    so a fresh account deploys)."""
    create_api_gateway_account: bool
    """Create the account-wide API Gateway CloudWatch role (one stack per account and region)."""


Getter = Callable[[str], str | None]


def _error(key: str, problem: str) -> ConfigError:
    return ConfigError(
        f"{NAMESPACE}:{key}: {problem}. A valid example in Pulumi.<stack>.yaml:\n  {NAMESPACE}:{key}: {EXAMPLES[key]}"
    )


def _value(get: Getter, key: str) -> object:
    """The key's value, decoded from JSON when Pulumi stored a structured or typed value."""
    raw = get(key)
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        return raw


def _required(get: Getter, key: str) -> object:
    value = _value(get, key)
    if value is None:
        raise _error(key, "required but not set")
    return value


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _origin(key: str, value: object) -> str:
    """The origin in the one normal form $connect and the referrer check compare against."""
    if not isinstance(value, str):
        raise _error(key, f"every origin must be a string, got {value!r}")
    try:
        origin = parse_origin(normalise_origin(value))
    except OriginError as exc:
        raise _error(key, f"{value!r} {exc}") from None
    if origin.scheme != "https" and origin.host not in LOCAL_HOSTS:
        raise _error(key, f"{value!r} must use https:// (http:// only for localhost)")
    return origin.origin


def _allowed_origins(get: Getter) -> tuple[str, ...]:
    key = "allowedOrigins"
    value = _required(get, key)
    if not isinstance(value, list) or not value:
        raise _error(key, "must be a non-empty list of origins")
    return tuple(dict.fromkeys(_origin(key, o) for o in value))


def _throttling(get: Getter) -> Throttling:
    key = "throttling"
    value = _required(get, key)
    if not isinstance(value, dict):
        raise _error(key, "must be an object with burstLimit and rateLimit")
    burst, rate = value.get("burstLimit"), value.get("rateLimit")
    if not _is_int(burst) or burst <= 0:
        raise _error(key, f"burstLimit must be a positive integer, got {burst!r}")
    if not _is_number(rate) or rate <= 0:
        raise _error(key, f"rateLimit must be a positive number, got {rate!r}")
    return Throttling(burst_limit=burst, rate_limit=float(rate))


def _log_retention_days(get: Getter) -> int:
    key = "logRetentionDays"
    value = _required(get, key)
    if not _is_int(value) or value not in LOG_RETENTION_DAYS:
        raise _error(key, f"must be one of CloudWatch's values {list(LOG_RETENTION_DAYS)}, got {value!r}")
    return value


def _bounded(key: str, field: str, value: object, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or not low <= value <= high:
        raise _error(key, f"{field} must be an integer from {low} to {high}, got {value!r}")
    return value


def _batching(get: Getter) -> Batching:
    key = "batching"
    value = _value(get, key)
    if value is None:
        return Batching()
    if not isinstance(value, dict):
        raise _error(key, "must be an object")
    unknown = set(value) - {"batchSize", "batchingWindowSeconds", "maximumConcurrency"}
    if unknown:
        raise _error(key, f"unknown field(s) {sorted(unknown)}")
    size = _bounded(key, "batchSize", value.get("batchSize"), 1, 10000)
    window = _bounded(key, "batchingWindowSeconds", value.get("batchingWindowSeconds"), 0, 300)
    concurrency = _bounded(key, "maximumConcurrency", value.get("maximumConcurrency"), 2, 1000)
    # SQS event source mappings reject batches above 10 without a batching window.
    if size is not None and size > 10 and not window:
        raise _error(key, "batchSize above 10 needs batchingWindowSeconds of at least 1")
    return Batching(size, window, DEFAULT_MAXIMUM_CONCURRENCY if concurrency is None else concurrency)


def _page_rules(get: Getter) -> tuple[PageRule, ...] | None:
    key = "pageRules"
    value = _value(get, key)
    if value is None:
        return None
    try:
        return parse_page_rules(json.dumps(value))
    except PageRuleError as exc:
        raise _error(key, str(exc)) from None


def _flag(get: Getter, key: str) -> bool:
    value = _value(get, key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _error(key, f"must be true or false, got {value!r}")
    return value


def parse_config(get: Getter) -> StackConfig:
    """The stack's config as a StackConfig, or ConfigError naming the first bad key."""
    return StackConfig(
        allowed_origins=_allowed_origins(get),
        throttling=_throttling(get),
        log_retention_days=_log_retention_days(get),
        batching=_batching(get),
        page_rules=_page_rules(get),
        protect=_flag(get, "protect"),
        access_logs=_flag(get, "accessLogs"),
        create_api_gateway_account=_flag(get, "createApiGatewayAccount"),
    )
