"""$disconnect: forget the connection (live counts).

Deleting its item is enough: the live fan-out reads that REMOVE from the Connections
stream and deletes what the connection followed, then pushes the lower readingNow.
API Gateway's $disconnect is best effort; a missed one is corrected by the next push
(410 Gone: the fan-out forgets the connection) or by TTL after the 2-hour limit.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers import aws, connections
from handlers.api import WebSocketResponse, parse_request, status
from handlers.log import log
from handlers.settings import load_settings
from handlers.wiring import CONNECTIONS


def handler(event: dict[str, Any], context: object) -> WebSocketResponse:
    request = parse_request(event)
    try:
        connections.forget(aws.client("dynamodb"), load_settings().table(CONNECTIONS), request.connection_id)
    except (ClientError, BotoCoreError) as exc:
        # Never the id: TTL and the next push's 410 remove the item instead.
        log("warn", "disconnect_not_recorded", error=type(exc).__name__)
    return status(200)
