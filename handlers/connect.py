"""$connect: admit a browser only from one of the blog's own origins.

An Origin check stops other web pages from using the API, not scripts (which can
send any header): it is one layer, not authentication.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from handlers.api import WebSocketResponse, parse_request, status
from handlers.log import log
from handlers.settings import load_settings, normalise_origin


def origin_allowed(origin: str | None, allowed: Collection[str]) -> bool:
    return origin is not None and normalise_origin(origin) in allowed


def handler(event: dict[str, Any], context: object) -> WebSocketResponse:
    request = parse_request(event)
    if origin_allowed(request.headers.get("origin"), load_settings().allowed_origins):
        return status(200)
    log("info", "connect_refused", reason="origin")
    return status(403)
