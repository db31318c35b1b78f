"""$disconnect: nothing is kept per connection, so there is nothing to clean up."""

from __future__ import annotations

from typing import Any

from handlers.api import WebSocketResponse, status


def handler(event: dict[str, Any], context: object) -> WebSocketResponse:
    return status(200)
