"""Origins at their edges: numeric hosts as a browser reads them, IPv6 zero runs, the
length and port limits, and the reason an operator is shown for a refused origin. Kills
handlers/origins.py survivors of the mutation run (tests/MUTATION.md)."""

from __future__ import annotations

import re

import pytest

from handlers.origins import MAX_HOST, OriginError, normalise_origin, parse_origin

# A label of 63 characters, the most DNS allows; four of them with dots make 255.
LABEL = "a" * 63


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("http://192.168.0.1", "http://192.168.0.1"),  # every byte in its place
        ("http://255.255.255.255", "http://255.255.255.255"),
        ("http://017.0.0.1", "http://15.0.0.1"),  # a leading 0 is octal
        ("http://0x.0.0.1", "http://0.0.0.1"),  # `0x` alone is 0
        ("http://127.0.0.0x1", "http://127.0.0.1"),  # a hex last label is still an address
        ("http://[2001:db8:1:2:3:4:5:6]", "http://[2001:db8:1:2:3:4:5:6]"),  # no zero run
        ("http://[2001:db8::]", "http://[2001:db8::]"),  # the run ends the address
        ("http://[1:0:0:2:3:4:5:6]", "http://[1::2:3:4:5:6]"),  # the run right after a piece
        ("https://WWW.EXAMPLE.COM", "https://www.example.com"),
        ("https://blog.example.com:10443", "https://blog.example.com:10443"),
        ("https://blog.example.com:65535", "https://blog.example.com:65535"),
        (f"https://{LABEL}.{LABEL}.{LABEL}.{'d' * (MAX_HOST - 3 * 64)}", None),  # 253 characters
        # IDNA maps the soft hyphen to nothing: a long raw host can still be a short name.
        ("https://b" + "\u00ad" * (2 * MAX_HOST - 16) + "log.example.com", "https://blog.example.com"),
    ],
)
def test_origin_edge_spellings_normalised_as_a_browser_would(raw: str, origin: str | None) -> None:
    assert normalise_origin(raw) == (origin or raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("ftp://blog.example.com", "must be an http(s) URL"),
        ("https:blog.example.com", "must be scheme://host"),
        ("https://blog.example.com/posts", "must be scheme://host[:port] with no path"),
        ("http://[::1", "unclosed [ in the host"),
        ("http://[::1]]", "unexpected text after the IPv6 address"),
        ("http://[::1]x", "unexpected text after the IPv6 address"),
        ("https://blog.example.com:123456", "the port must be a number from 0 to 65535"),
        ("https://blog.example.com:65536", "the port must be a number from 0 to 65535"),
        ("https://b" + "\u00ad" * (2 * MAX_HOST - 15) + "log.example.com", "the host is too long"),
        ("https://a%2eb", "the host must not be percent-encoded"),
        ("https://blog..example.com", "the host is not a valid domain name"),
        ("https://blog.example.com..", "the host is not a valid domain name"),
        (f"https://{LABEL}.{LABEL}.{LABEL}.{'d' * (MAX_HOST - 3 * 64 + 1)}", "the host is not a valid domain name"),
        ("https://stra\u00dfe.example", "write this host in its punycode (xn--) form"),
        ("https://" + "\u00fc" * 64 + ".example", "the host is not a valid internationalised domain name"),
        ("http://1.2.3.08", "the host is not a valid IPv4 address"),  # 8 is no octal digit
        ("http://1.2.3.4.0", "the host is not a valid IPv4 address"),  # five parts
        ("http://256.0.0.1", "the host is not a valid IPv4 address"),
        ("http://[::g]", "the host is not a valid IPv6 address"),
        ("http://[1:2:3]", "the host is not a valid IPv6 address"),
    ],
)
def test_origin_refused_with_the_reason_the_operator_sees(raw: str, reason: str) -> None:
    """components/config.py, the handlers' settings and `--allowed-origin` show this text
    as the whole explanation of a refused origin."""
    with pytest.raises(OriginError, match=f"^{re.escape(reason)}$"):
        normalise_origin(raw)


def test_origin_parts_kept_for_the_config_checks() -> None:
    """The config allows http:// only for a local host, which it reads from `host`."""
    parsed = parse_origin("http://LOCALHOST:8787/")
    assert (parsed.origin, parsed.scheme, parsed.host, parsed.only_origin) == (
        "http://localhost:8787",
        "http",
        "localhost",
        True,
    )
