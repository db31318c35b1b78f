"""One origin normalisation for the config, the environment, $connect and the referrer check."""

from __future__ import annotations

import json

import pytest

from components.config import parse_config
from handlers.classify import external_referrer
from handlers.connect import origin_allowed
from handlers.origins import OriginError, normalise_origin, parse_origin
from handlers.settings import settings_from
from handlers.wiring import ENV_ALLOWED_ORIGINS, ENV_STACK


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("https://blog.example.com", "https://blog.example.com"),
        ("https://blog.example.com:443", "https://blog.example.com"),
        ("https://blog.example.com:0443/", "https://blog.example.com"),
        ("HTTPS://Blog.Example.COM", "https://blog.example.com"),
        ("https://blog.example.com.", "https://blog.example.com"),
        ("https://blog.example.com:", "https://blog.example.com"),
        ("http://blog.example.com:80", "http://blog.example.com"),
        ("http://blog.example.com:443", "http://blog.example.com:443"),
        ("https://blog.example.com:8443", "https://blog.example.com:8443"),
        ("https://b\u00fccher.example", "https://xn--bcher-kva.example"),
        ("https://\uff42log.example.com", "https://blog.example.com"),
        ("http://2130706433:8787", "http://127.0.0.1:8787"),
        ("http://127.1", "http://127.0.0.1"),
        ("http://0x7F.0.0.01", "http://127.0.0.1"),
        ("http://[0:0:0:0:0:0:0:1]:8787", "http://[::1]:8787"),
        ("http://[2001:DB8:0:0:1:0:0:1]", "http://[2001:db8::1:0:0:1]"),
    ],
)
def test_origin_normalised_as_a_browser_would_compare_it(raw: str, origin: str) -> None:
    assert normalise_origin(raw) == origin


@pytest.mark.parametrize(
    "raw",
    [
        "null",
        "blog.example.com",
        "ftp://blog.example.com",
        "https://",
        "https:/blog.example.com",
        "http://[::1",
        "http://[abc]/",
        "http://[fe80::1%25eth0]",
        "https://a\uff03b/",
        "https://a%2eb",
        "https://stra\u00dfe.example",
        "https://blog..example.com",
        "https://" + "a" * 64 + ".example",
        "https://1.2.3.256",
        "https://blog.example.com:65536",
        "https://blog.example.com:\u0664\u0664\u0663",
        "https://blog.example.com:4_43",
    ],
)
def test_origin_refused_with_origin_error_only(raw: str) -> None:
    with pytest.raises(OriginError):
        parse_origin(raw)


@pytest.mark.parametrize(
    "raw", ["https://blog.example.com/posts", "https://blog.example.com?x", "https://me@blog.example.com"]
)
def test_origin_with_more_than_an_origin_is_not_an_allowed_origin(raw: str) -> None:
    assert parse_origin(raw).origin == "https://blog.example.com"
    with pytest.raises(OriginError, match="no path"):
        normalise_origin(raw)


SPELLINGS = ["https://blog.example.com:443", "HTTPS://BLOG.example.com.", "https://blog.example.com/"]


@pytest.mark.parametrize("configured", SPELLINGS)
@pytest.mark.parametrize("seen", [*SPELLINGS, "https://blog.example.com"])
def test_origin_config_connect_and_referrers_agree(configured: str, seen: str) -> None:
    """Configured as `:443` the blog was refused at $connect and counted as its own referrer."""
    values = {"allowedOrigins": [configured], "throttling": {"burstLimit": 1, "rateLimit": 1}, "logRetentionDays": 1}
    config = parse_config({k: json.dumps(v) for k, v in values.items()}.get)
    assert config.allowed_origins == ("https://blog.example.com",)
    settings = settings_from({ENV_STACK: "test", ENV_ALLOWED_ORIGINS: json.dumps(list(config.allowed_origins))})
    assert origin_allowed(seen, settings.allowed_origins)
    assert external_referrer(seen.rstrip("/") + "/posts/x?q=1", settings.allowed_origins) is None
