"""Origins: the one normalisation shared by $connect, the views route and config validation.

Pure. `https://Blog.Example.com:443/`, `https://blog.example.com.` and
`https://blog.example.com` are one origin, and so are `http://2130706433` and
`http://127.0.0.1`: the allow-list, the Origin header and a referrer must compare
equal exactly when a browser would treat them as the same site, or the blog is
refused at $connect and counts its own pages as external referrers.

An origin is `scheme://host[:port]`: the scheme http or https, the host lower-cased
in its IDNA (ASCII) form or as a canonical IP address (IPv6 in brackets), the port
only when it is not the scheme's default. Whatever is not one raises OriginError;
nothing here raises anything else, whatever text it is given.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_HOST = 253  # DNS: a name of at most 253 characters, labels of at most 63
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_PORT = re.compile(r"[0-9]*")  # ASCII digits only: int() would also take "٤٤٣" and "4_43"
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+")
# IDNA 2003 (Python's codec) maps these four differently from the UTS 46 processing
# browsers use (`straße` -> `strasse`, not `xn--strae-oqa`), so a host holding one
# would not compare equal with the browser's Origin: refused, not guessed.
_IDNA_DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")


class OriginError(ValueError):
    """The text is not an http(s) URL with a usable host."""


class ParsedOrigin(NamedTuple):
    origin: str
    """`scheme://host[:port]`, normalised."""
    scheme: str
    host: str
    only_origin: bool
    """Nothing else was given: no userinfo, path (a lone `/` aside), query or fragment."""


def parse_origin(raw: str) -> ParsedOrigin:
    """The origin of an http(s) URL, normalised; OriginError if it has none."""
    text = raw.strip()
    scheme_match = _SCHEME.match(text)
    scheme = scheme_match.group(1).lower() if scheme_match else ""
    if scheme_match is None or scheme not in DEFAULT_PORTS:
        raise OriginError("must be an http(s) URL")
    rest = text[scheme_match.end() :]
    if not rest.startswith("//"):
        raise OriginError("must be scheme://host")
    rest = rest[2:]
    # Browsers end the authority at `\` too for http(s).
    end = next((i for i, char in enumerate(rest) if char in "/?#\\"), len(rest))
    authority, tail = rest[:end], rest[end:]
    _, at, host_port = authority.rpartition("@")  # userinfo is dropped
    raw_host, raw_port = _split_port(host_port)
    host, port = _host(raw_host), _port(raw_port, scheme)
    origin = f"{scheme}://{host}" if port is None else f"{scheme}://{host}:{port}"
    return ParsedOrigin(origin, scheme, host, only_origin=not at and tail in ("", "/"))


def origin_of(url: str) -> str | None:
    """The normalised origin of an http(s) URL (path, query, fragment, userinfo dropped), or None."""
    try:
        return parse_origin(url).origin
    except OriginError:
        return None


def normalise_origin(raw: str) -> str:
    """An origin as configured or sent in an Origin header, normalised; OriginError if it is more or less."""
    parsed = parse_origin(raw)
    if not parsed.only_origin:
        raise OriginError("must be scheme://host[:port] with no path")
    return parsed.origin


def _split_port(host_port: str) -> tuple[str, str]:
    if host_port.startswith("["):
        close = host_port.find("]")
        if close < 0:
            raise OriginError("unclosed [ in the host")
        after = host_port[close + 1 :]
        if after and not after.startswith(":"):
            raise OriginError("unexpected text after the IPv6 address")
        return host_port[: close + 1], after[1:]
    host, _, port = host_port.partition(":")
    return host, port


def _port(raw: str, scheme: str) -> int | None:
    if not _PORT.fullmatch(raw) or len(raw.lstrip("0")) > 5:
        raise OriginError("the port must be a number from 0 to 65535")
    if not raw:
        return None  # `https://host:/` has the default port, as in browsers
    port = int(raw)
    if port > 65535:
        raise OriginError("the port must be a number from 0 to 65535")
    return None if port == DEFAULT_PORTS[scheme] else port


def _host(raw: str) -> str:
    if len(raw) > 2 * MAX_HOST:  # no valid host is this long, even before IDNA maps it
        raise OriginError("the host is too long")
    if raw.startswith("["):
        return f"[{_ipv6(raw[1:-1])}]"
    if "%" in raw:
        raise OriginError("the host must not be percent-encoded")
    host = raw if raw.isascii() else _idna(raw)
    host = host.lower().removesuffix(".")
    labels = host.split(".")
    if _ends_in_a_number(labels[-1]):
        return _ipv4(labels)
    if len(host) > MAX_HOST or not all(_LABEL.fullmatch(label) for label in labels):
        raise OriginError("the host is not a valid domain name")
    return host


def _idna(host: str) -> str:
    if _IDNA_DEVIATIONS.intersection(host):
        raise OriginError("write this host in its punycode (xn--) form")
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise OriginError("the host is not a valid internationalised domain name") from None


# ---- numeric hosts, as browsers read them (the WHATWG URL standard) ------------------


def _ipv4_number(part: str) -> int | None:
    """`0x1f` (hex), `017` (octal) or `17`; None when the part is not a number."""
    digits, base = part, 10
    if part[:2].lower() == "0x":
        digits, base = part[2:], 16
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    if not digits:
        return 0 if base != 10 else None
    allowed = "0123456789abcdef"[:base]
    if not all(char in allowed for char in digits.lower()):
        return None
    return int(digits, base)


def _ends_in_a_number(label: str) -> bool:
    return label != "" and (_PORT.fullmatch(label) is not None or _ipv4_number(label) is not None)


def _ipv4(labels: list[str]) -> str:
    """`127.1`, `0x7f.0.0.1` and `2130706433` are all 127.0.0.1 to a browser."""
    numbers = [_ipv4_number(label) if label else None for label in labels]
    if len(labels) > 4 or any(n is None for n in numbers):
        raise OriginError("the host is not a valid IPv4 address")
    values = [n for n in numbers if n is not None]
    *leading, last = values
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(values)):
        raise OriginError("the host is not a valid IPv4 address")
    address = last + sum(n << (8 * (3 - i)) for i, n in enumerate(leading))
    return str(ipaddress.IPv4Address(address))


def _ipv6(inner: str) -> str:
    """The address in the WHATWG serialisation: lower-case, the first longest zero run as `::`."""
    if not _IPV6.fullmatch(inner):
        raise OriginError("the host is not a valid IPv6 address")
    try:
        value = int(ipaddress.IPv6Address(inner))
    except ValueError:
        raise OriginError("the host is not a valid IPv6 address") from None
    pieces = [(value >> (16 * (7 - i))) & 0xFFFF for i in range(8)]
    start, length = -1, 1
    i = 0
    while i < 8:
        j = i
        while j < 8 and pieces[j] == 0:
            j += 1
        if j - i > length:
            start, length = i, j - i
        i = max(j, i + 1)
    texts = [f"{p:x}" for p in pieces]
    if start < 0:
        return ":".join(texts)
    return ":".join(texts[:start]) + "::" + ":".join(texts[start + length :])
