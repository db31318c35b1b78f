"""$connect: admit a browser only from one of the blog's own origins, and no known crawler.

An Origin check stops other web pages from using the API, not scripts (which can
send any header): it is one layer, not authentication. The crawler check refuses
what announces itself as a bot (handlers/bots.py); a script that claims to be a
browser passes it, as it passes the Origin check.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from handlers import bots
from handlers.api import WebSocketResponse, parse_request, status
from handlers.filtered import Reason, filtered
from handlers.origins import OriginError, normalise_origin
from handlers.settings import load_settings

# Read and compiled at import, once per container, in Lambda's init phase before the first
# event (bench/coldstart.py measures it; README, "Reliability and abuse").
bots.known_crawlers()


def origin_allowed(origin: str | None, allowed: Collection[str]) -> bool:
    """Compared in the form the allow-list was normalised to (origins.normalise_origin)."""
    if origin is None:
        return False
    try:
        return normalise_origin(origin) in allowed
    except OriginError:
        return False  # `null` (a sandboxed page or a file), or not an origin at all


def refusal(headers: Mapping[str, str], allowed: Collection[str]) -> Reason | None:
    """Pure: why this connection is refused (`origin`, `bot`), or None to admit it.

    The user agent is matched and forgotten: it is in no reply, log line or table.
    """
    if not origin_allowed(headers.get("origin"), allowed):
        return "origin"
    if bots.is_known_crawler(headers.get("user-agent")):
        return "bot"
    return None


def handler(event: dict[str, Any], context: object) -> WebSocketResponse:
    request = parse_request(event)
    reason = refusal(request.headers, load_settings().allowed_origins)
    if reason is None:
        return status(200)
    filtered(reason)
    return status(403)
