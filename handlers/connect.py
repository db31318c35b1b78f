"""$connect: admit a browser only from one of the blog's own origins.

An Origin check stops other web pages from using the API, not scripts (which can
send any header): it is one layer, not authentication.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from handlers.api import WebSocketResponse, parse_request, status
from handlers.log import log
from handlers.origins import OriginError, normalise_origin
from handlers.settings import load_settings


def origin_allowed(origin: str | None, allowed: Collection[str]) -> bool:
    """Compared in the form the allow-list was normalised to (origins.normalise_origin)."""
    if origin is None:
        return False
    try:
        return normalise_origin(origin) in allowed
    except OriginError:
        return False  # `null` (a sandboxed page or a file), or not an origin at all


def handler(event: dict[str, Any], context: object) -> WebSocketResponse:
    request = parse_request(event)
    if origin_allowed(request.headers.get("origin"), load_settings().allowed_origins):
        return status(200)
    log("info", "connect_refused", reason="origin")
    return status(403)
