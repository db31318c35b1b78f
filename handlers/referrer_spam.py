"""Referrer spam: hosts whose referrers are never counted (the view still is).

Pure. A stack lists hosts in the REFERRER_SPAM environment variable, a JSON list such as
`["semalt.com", "buttons-for-website.com"]`; a listed host also covers its subdomains
(`semalt.com` covers `www.semalt.com`, not `notsemalt.com`). Hosts are compared in the
form origins.parse_origin gives them (lower case, IDNA), so `Semalt.COM.` is `semalt.com`.

Lambda allows 4 KB of environment variables per function, all of them together, so the
list is bounded (MAX_LIST_BYTES): a blog lists the spam hosts that reach it, not a whole
public list (README, "Reliability and abuse").
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable

from handlers.origins import OriginError, parse_origin
from handlers.wiring import ENV_REFERRER_SPAM

MAX_LIST_BYTES = 2048
"""The list as JSON, at most: half of Lambda's 4 KB for all of a function's variables."""


class SpamListError(ValueError):
    """A listed entry is not a host name, or the list is too long."""


def normalise_host(raw: str) -> str:
    """`Www.Semalt.COM.` -> `www.semalt.com`; SpamListError for anything but a bare host."""
    try:
        parsed = parse_origin(f"https://{raw}")
    except OriginError as exc:
        raise SpamListError(f"{raw[:100]!r}: {exc}") from None
    if not parsed.only_origin or ":" in raw or "@" in raw or parsed.host.startswith("["):
        raise SpamListError(f"{raw[:100]!r}: must be a host name such as semalt.com (no scheme, port or path)")
    return parsed.host


def spam_hosts(raw_hosts: Iterable[object]) -> tuple[str, ...]:
    """Pure: each host normalised, in order, once; SpamListError names the first bad one."""
    hosts: dict[str, None] = {}
    for index, raw in enumerate(raw_hosts):
        if not isinstance(raw, str) or not raw:
            raise SpamListError(f"[{index}]: expected a host name such as semalt.com, got {raw!r}")
        try:
            hosts[normalise_host(raw)] = None
        except SpamListError as exc:
            raise SpamListError(f"[{index}]: {exc}") from None
    result = tuple(hosts)
    if len(spam_hosts_json(result)) > MAX_LIST_BYTES:
        raise SpamListError(
            f"at most {MAX_LIST_BYTES} bytes as JSON (Lambda allows 4 KB of environment per function); "
            "list the spam hosts that reach this blog"
        )
    return result


def parse_spam_hosts(raw: str) -> frozenset[str]:
    """The REFERRER_SPAM variable; empty means none."""
    try:
        value = json.loads(raw) if raw else []
    except json.JSONDecodeError as exc:
        raise SpamListError(f"{ENV_REFERRER_SPAM}: not JSON ({exc.msg})") from None
    if not isinstance(value, list):
        raise SpamListError(f'{ENV_REFERRER_SPAM}: expected a JSON list such as ["semalt.com"]')
    return frozenset(spam_hosts(value))


def spam_hosts_json(hosts: Iterable[str]) -> str:
    """The inverse of parse_spam_hosts, for deployers that set the environment."""
    return json.dumps(list(hosts), separators=(",", ":"))


def is_spam(origin: str, hosts: Collection[str]) -> bool:
    """Pure: the referrer origin's host is listed, or is a subdomain of a listed host."""
    if not hosts:
        return False
    try:
        labels = parse_origin(origin).host.split(".")
    except OriginError:
        return False
    return any(".".join(labels[i:]) in hosts for i in range(len(labels)))
