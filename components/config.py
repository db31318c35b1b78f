"""The stack configuration, validated into one typed object.

Pure: `parse_config(get)` takes a getter (in the program `pulumi.Config().get`) so tests
need no Pulumi runtime. Every error names the key and shows a line that would work in
`Pulumi.<stack>.yaml`, because the person reading it is about to edit that file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from annotated_types import Ge, Gt, Le
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from handlers.origins import OriginError, normalise_origin, parse_origin
from handlers.pages import PageRule, PageRuleError, parse_page_rules
from handlers.referrer_spam import SpamListError, spam_hosts
from handlers.schema import describe
from handlers.signing import check_secret
from handlers.wiring import DEFAULT_LIVE_INTERVAL_SECONDS, MAX_LIVE_INTERVAL_SECONDS

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
    "alerts": "{email: owner@example.com, viewsPerHour: 500}",
    "liveIntervalSeconds": "2",
    "referrerSpam": "[semalt.com, buttons-for-website.com]",
    "signedPosts": "true",
    "postSigningSecret": "(set it with: pulumi config set --secret postSigningSecret <43 random characters>)",
    "postSigningSecretPrevious": "(the secret being rotated out; pulumi config set --secret ...)",
    "viewsPerConnection": "100",
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
class Alerts:
    """Where the owner hears of a post taking off, and of anything an operator must see."""

    email: str
    """The address subscribed to the alert topic (AWS mails it a confirmation link first)."""
    views_per_hour: int = 0
    """Views of one post or page within an hour that send one alert; 0: alarms only."""


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
    alerts: Alerts | None = None
    """The alert topic, its e-mail subscription and the alarms; None: no topic and no alarms
    (an alarm nobody reads is noise)."""
    live_interval_seconds: int = DEFAULT_LIVE_INTERVAL_SECONDS
    """Live pushes: at most one per target per this many seconds (the live stream mappings'
    batching window); 0 turns live counts off: no pushes, no readingNow (wiring.with_live_interval)."""
    referrer_spam: tuple[str, ...] = ()
    """Hosts (and their subdomains) whose referrers are never counted; their views still are."""
    post_signing_secrets: tuple[str, ...] = ()
    """With signedPosts: the current secret, then the previous one during a rotation; else empty."""
    views_per_connection: int | None = None
    """Views one connection may send before `rate_limited` (kept on its Connections item); None: no budget."""


Getter = Callable[[str], str | None]

# Strict: a bool is not an integer and "5" is not a number (`true` for a count is a typo).
# The models check shapes and bounds; _message words their errors as this module always has.
_STRICT = ConfigDict(strict=True, frozen=True)


def _problem(text: str) -> PydanticCustomError:
    """An error whose message is already the one line to show (custom types keep it as is)."""
    return PydanticCustomError("config", "{text}", {"text": text})


def _origin(value: str) -> str:
    """The origin in the one normal form $connect and the referrer check compare against."""
    try:
        origin = parse_origin(normalise_origin(value))
    except OriginError as exc:
        raise _problem(f"{value!r} {exc}") from None
    if origin.scheme != "https" and origin.host not in LOCAL_HOSTS:
        raise _problem(f"{value!r} must use https:// (http:// only for localhost)")
    return origin.origin


def _log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError("not a CloudWatch value")
    return value


def _page_rules(value: object) -> tuple[PageRule, ...]:
    try:
        return parse_page_rules(json.dumps(value))
    except PageRuleError as exc:
        raise _problem(str(exc)) from None


def _referrer_spam(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _problem("must be a list of host names")
    try:
        return spam_hosts(value)
    except SpamListError as exc:
        raise _problem(str(exc)) from None


def _secret(value: object) -> str:
    try:
        return check_secret(value)
    except ValueError as exc:
        raise _problem(str(exc)) from None  # never the value: it is a secret


Secret = Annotated[Any, AfterValidator(_secret)]


class _Throttling(BaseModel):
    # Other fields are ignored, as before the model.
    model_config = _STRICT
    burstLimit: Annotated[int, Gt(0)]
    rateLimit: Annotated[float, Gt(0)]


class _Batching(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
    batchSize: Annotated[int | None, Ge(1), Le(10000)] = None
    batchingWindowSeconds: Annotated[int | None, Ge(0), Le(300)] = None
    maximumConcurrency: Annotated[int | None, Ge(2), Le(1000)] = None

    @model_validator(mode="after")
    def _window_for_large_batches(self) -> _Batching:
        # SQS event source mappings reject batches above 10 without a batching window.
        if self.batchSize is not None and self.batchSize > 10 and not self.batchingWindowSeconds:
            raise _problem("batchSize above 10 needs batchingWindowSeconds of at least 1")
        return self


# An e-mail address as SNS's email protocol takes it: one @, no spaces, a dotted domain.
_EMAIL = r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"


class _Alerts(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
    email: Annotated[
        StrictStr, Field(max_length=254, pattern=_EMAIL, description="an e-mail address such as owner@example.com")
    ]
    viewsPerHour: Annotated[int, Ge(0), Le(100_000_000)] = 0


class _StackConfig(BaseModel):
    """The stack's keys as Pulumi stores them; fields in the order their errors are reported."""

    model_config = _STRICT
    allowedOrigins: Annotated[list[Annotated[StrictStr, AfterValidator(_origin)]], Field(min_length=1)]
    throttling: _Throttling
    logRetentionDays: Annotated[int, AfterValidator(_log_retention)]
    batching: _Batching | None = None
    pageRules: Annotated[Any, AfterValidator(_page_rules)] = None
    protect: StrictBool = False
    accessLogs: StrictBool = False
    createApiGatewayAccount: StrictBool = False
    alerts: _Alerts | None = None
    liveIntervalSeconds: Annotated[int, Ge(0), Le(MAX_LIVE_INTERVAL_SECONDS)] = DEFAULT_LIVE_INTERVAL_SECONDS
    referrerSpam: Annotated[Any, AfterValidator(_referrer_spam)] = ()
    signedPosts: StrictBool = False
    postSigningSecret: Secret | None = None
    postSigningSecretPrevious: Secret | None = None
    viewsPerConnection: Annotated[int | None, Ge(1), Le(100000)] = None

    @model_validator(mode="after")
    def _secret_for_signed_posts(self) -> _StackConfig:
        if self.signedPosts and self.postSigningSecret is None:
            raise PydanticCustomError(
                "config_key", "{text}", {"key": "postSigningSecret", "text": "required when signedPosts is true"}
            )
        return self


# What a key's value must be, when the value itself (not a field inside it) is wrong.
_WHOLE = {
    "allowedOrigins": "must be a non-empty list of origins",
    "throttling": "must be an object with burstLimit and rateLimit",
    "logRetentionDays": f"must be one of CloudWatch's values {list(LOG_RETENTION_DAYS)}, got {{value!r}}",
    "batching": "must be an object",
    "protect": "must be true or false, got {value!r}",
    "accessLogs": "must be true or false, got {value!r}",
    "createApiGatewayAccount": "must be true or false, got {value!r}",
    "alerts": "must be an object with email (and optionally viewsPerHour)",
    "liveIntervalSeconds": f"must be a whole number of seconds from 0 to {MAX_LIVE_INTERVAL_SECONDS}, got {{value!r}}",
    "signedPosts": "must be true or false, got {value!r}",
    "viewsPerConnection": "must be an integer from 1 to 100000, got {value!r}",
}
_ITEM = {"allowedOrigins": "every origin must be a string, got {value!r}"}


def _rule(model: type[BaseModel], field: str) -> str:
    """`a positive integer`, `an integer from 2 to 1000`: read off the field's own constraints."""
    info = model.model_fields[field]
    if info.description:
        return info.description
    bounds = {type(m): m for m in info.metadata}
    if Ge in bounds and Le in bounds:
        return f"an integer from {bounds[Ge].ge} to {bounds[Le].le}"
    return "a positive integer" if info.annotation is int else "a positive number"


def _message(error: ErrorDetails, errors: list[ErrorDetails]) -> tuple[str, str]:
    """(key, problem) for the first error, worded as before the model (tests pin the wording)."""
    key, *inside = (str(part) for part in error["loc"])
    value = None if error["type"] == "missing" else error["input"]
    if error["type"] == "config":
        return key, str(error["msg"])
    if not inside:
        return key, "required but not set" if value is None else _WHOLE[key].format(value=value)
    if error["type"] == "extra_forbidden":
        unknown = sorted(str(e["loc"][1]) for e in errors if e["type"] == "extra_forbidden" and e["loc"][0] == key)
        return key, f"unknown field(s) {unknown}"
    if key in _ITEM:
        return key, _ITEM[key].format(value=value)
    models: dict[str, type[BaseModel]] = {"throttling": _Throttling, "batching": _Batching, "alerts": _Alerts}
    if key in models and inside[0] in models[key].model_fields:
        return key, f"{inside[0]} must be {_rule(models[key], inside[0])}, got {value!r}"
    return key, describe({**error, "loc": tuple(inside)})


def _first(errors: list[ErrorDetails]) -> ErrorDetails:
    """Errors come in field order; within a key, unknown fields are reported before bad values."""
    if not errors[0]["loc"]:
        return errors[0]  # a rule across keys (config_key)
    first_key = errors[0]["loc"][0]
    mine = [e for e in errors if e["loc"][0] == first_key]
    return next((e for e in mine if e["type"] == "extra_forbidden"), mine[0])


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


def parse_config(get: Getter) -> StackConfig:
    """The stack's config as a StackConfig, or ConfigError naming the first bad key."""
    raw = {key: _value(get, key) for key in _StackConfig.model_fields}
    try:
        config = _StackConfig.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = _first(errors)
        if first["type"] == "config_key":  # a rule across keys, reported at the key to set
            key, problem = str(first["ctx"]["key"]), str(first["msg"])
        else:
            key, problem = _message(first, errors)
        raise _error(key, problem) from None
    batching = config.batching or _Batching()
    return StackConfig(
        allowed_origins=tuple(dict.fromkeys(config.allowedOrigins)),
        throttling=Throttling(burst_limit=config.throttling.burstLimit, rate_limit=config.throttling.rateLimit),
        log_retention_days=config.logRetentionDays,
        batching=Batching(
            batching.batchSize,
            batching.batchingWindowSeconds,
            DEFAULT_MAXIMUM_CONCURRENCY if batching.maximumConcurrency is None else batching.maximumConcurrency,
        ),
        page_rules=config.pageRules,
        protect=config.protect,
        access_logs=config.accessLogs,
        create_api_gateway_account=config.createApiGatewayAccount,
        alerts=None if config.alerts is None else Alerts(config.alerts.email, config.alerts.viewsPerHour),
        live_interval_seconds=config.liveIntervalSeconds,
        referrer_spam=config.referrerSpam,
        post_signing_secrets=tuple(
            secret
            for secret in (config.postSigningSecret, config.postSigningSecretPrevious)
            if secret is not None and config.signedPosts
        ),
        views_per_connection=config.viewsPerConnection,
    )
