"""The local API Gateway: one port for the WebSocket API, @connections and the demo blog.

It behaves as API Gateway's WebSocket API does: `$connect` decides the handshake
(403 on refusal), frames are routed on `$request.body.message`, a replying route's
body goes back as a text frame, messages over 128 KB close the connection with 1009,
and `$disconnect` runs on close. As on AWS, a connection is closed (1001, "Going away",
then `$disconnect`) after 10 minutes without a data frame either way, and after 2
hours whatever it does. Nothing over 128 KB goes out either: a route
response that big is dropped (the client gets no frame) and a PostToConnection that
big is answered 413 PayloadTooLargeException, so a reply that could not reach a
client on AWS cannot reach one here. Handlers are blocking, so each call runs in a
worker thread: a slow handler never stalls the other connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import re
import socket
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from handlers.wiring import DISCONNECT_ROUTE
from local import static
from local.functions import Functions, HandlerFailed, log
from local.routing import (
    CONNECT_ROUTE,
    MAX_MESSAGE_BYTES,
    Connection,
    connect_event,
    disconnect_event,
    internal_error_reply,
    message_event,
    new_id,
    reply_of,
    route_keys,
    select_route,
    status_of,
)

# `/@connections/{id}`, optionally behind a stage prefix as on AWS (`/local/@connections/...`).
_CONNECTIONS_PATH = re.compile(r"^(?:/[^/@]+)?/@connections/([^/]+)$")
_HOST_HEADER = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_MAX_HEAD_BYTES = 16 * 1024
# Bodies up to this size are read so that PostToConnection can be answered 413 as on
# AWS; only bigger ones are left to the library. Bounded: it is held in memory.
_MAX_LIFTED_BODY_BYTES = 8 * MAX_MESSAGE_BYTES
_CLOSE_TIMEOUT_SECONDS = 2
# What API Gateway sends when it ends a connection itself (idle timeout, 2-hour limit).
GOING_AWAY = (1001, "Going away")


def now_ms() -> int:
    return int(time.time() * 1000)


# ---- request bodies ---------------------------------------------------------------
# The websockets library parses only body-less requests (a handshake has none), but
# boto3's PostToConnection sends its data as a POST body. The first request's body
# is therefore lifted off before the library sees the head.


def content_length(head: bytes) -> int | None:
    """Pure: the Content-Length of a request head, None when absent or unreadable."""
    match = re.search(rb"\r\ncontent-length:[ \t]*(\d{1,12})[ \t]*\r\n", head, re.IGNORECASE)
    return int(match.group(1)) if match else None


def lift_body(buffer: bytes) -> tuple[bytes, bytes] | None:
    """Pure: (head with Content-Length 0 + what follows the body, body), or None for "wait".

    A head without a body, or one too large to be ours, comes back unchanged so the
    library answers it as it would.
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return (buffer, b"") if len(buffer) > _MAX_HEAD_BYTES else None
    head, rest = buffer[: end + 4], buffer[end + 4 :]
    length = content_length(head)
    if not length or length > _MAX_LIFTED_BODY_BYTES:
        return buffer, b""
    if len(rest) < length:
        return None
    head = re.sub(rb"(\r\ncontent-length:)[ \t]*\d+", rb"\1 0", head, count=1, flags=re.IGNORECASE)
    return head + rest[length:], rest[:length]


class GatewayConnection(ServerConnection):
    """A ServerConnection that keeps the first request's body and our connection record."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head: bytes | None = b""
        self.request_body = b""
        self.record: Connection | None = None

    def data_received(self, data: bytes) -> None:
        if self._head is None:
            super().data_received(data)
            return
        lifted = lift_body(self._head + data)
        if lifted is None:
            self._head += data
            return
        self._head = None
        passed, self.request_body = lifted
        super().data_received(passed)


# ---- HTTP responses ---------------------------------------------------------------


def http_response(status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8") -> Response:
    headers = Headers()
    headers["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    headers["Connection"] = "close"
    if body or status not in (204, 304):
        headers["Content-Type"] = content_type
        headers["Content-Length"] = str(len(body))
    headers["Cache-Control"] = "no-store"
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


def json_response(status: int, payload: Mapping[str, Any], error_type: str | None = None) -> Response:
    response = http_response(status, json.dumps(payload).encode(), "application/json")
    if error_type:
        # botocore reads a REST-JSON error's code from this header.
        response.headers["x-amzn-ErrorType"] = error_type
    return response


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Limits:
    """API Gateway's fixed WebSocket connection limits (its quotas page: not adjustable).

    Injectable so tests need not wait ten minutes; the defaults are AWS's.
    """

    idle_seconds: float = 10 * 60
    """Closed after this long without a data frame in either direction."""
    max_seconds: float = 2 * 60 * 60
    """Closed this long after the handshake, busy or not."""


def expiry(opened: float, active: float, limits: Limits) -> float:
    """Pure: when a connection opened at `opened` and last active at `active` is closed.

    Only data frames count as activity: browsers send no pings, and API Gateway's idle
    timer is reset by messages (client frames, route responses, PostToConnection).
    """
    return min(active + limits.idle_seconds, opened + limits.max_seconds)


AWS_LIMITS = Limits()


@dataclass
class Peer:
    ws: ServerConnection
    record: Connection
    opened: float  # on the gateway's clock (monotonic), for the limits
    active: float
    last_active_ms: int = field(default_factory=now_ms)
    closed_by: tuple[int, str] | None = None  # set when the gateway itself closed it

    def touch(self, now: float) -> None:
        """A data frame went either way: the idle timer starts again."""
        self.active = now
        self.last_active_ms = now_ms()


DynamicPage = Callable[[], tuple[int, str, bytes]]
"""A page made per request (the dashboard): (status, content type, body); it may block."""


class Gateway:
    def __init__(
        self,
        functions: Functions,
        ws_url: str,
        client_root: Path = static.CLIENT_DIR,
        pages: Mapping[str, DynamicPage] | None = None,
        limits: Limits = AWS_LIMITS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.functions = functions
        self.pages = dict(pages or {})
        self.keys = route_keys(functions.wiring)
        self.ws_url = ws_url
        self.client_root = client_root
        self.limits = limits
        self.clock = clock
        self.peers: dict[str, Peer] = {}
        self._closing: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def start(self, sock: socket.socket) -> Server:
        return await serve(
            self._session,
            sock=sock,
            process_request=self._process_request,
            create_connection=GatewayConnection,
            max_size=MAX_MESSAGE_BYTES,
            # API Gateway negotiates no permessage-deflate; neither does the local one.
            compression=None,
            close_timeout=_CLOSE_TIMEOUT_SECONDS,
            server_header=None,
        )

    async def _invoke(self, function: str, event: dict[str, Any]) -> Any:
        return await asyncio.to_thread(self.functions.invoke, function, event)

    def _function(self, route_key: str) -> str | None:
        route = self.functions.wiring.route(route_key)
        return route.function if route else None

    # ---- handshake and plain HTTP -----------------------------------------------------

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        managed = _CONNECTIONS_PATH.match(path)
        if managed:
            body = conn.request_body if isinstance(conn, GatewayConnection) else b""
            return await self._manage(request.method, unquote(managed.group(1)), body)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if path != "/":
                return http_response(404, b"Not Found\n")
            return await self._connect(conn, request)
        if request.method not in ("GET", "HEAD"):
            return http_response(405, b"Method Not Allowed\n")
        return await self._page(request, path)

    async def _page(self, request: Request, path: str) -> Response:
        """GET or HEAD of a page: made per request (the dashboard), or a file of the demo blog."""
        dynamic = self.pages.get(path.rstrip("/") or "/")
        if dynamic is not None:
            status, content_type, page = await asyncio.to_thread(dynamic)
            return http_response(status, b"" if request.method == "HEAD" else page, content_type)
        found = static.load(request.path, self._page_ws_url(request), self.client_root)
        if found is None:
            return http_response(404, b"Not Found\n")
        body = b"" if request.method == "HEAD" else found.body
        return http_response(200, body, found.content_type)

    def _page_ws_url(self, request: Request) -> str:
        """The page's WebSocket URL on the host the browser used, so its Origin is ours."""
        host = request.headers.get("Host", "")
        return f"ws://{host}" if _HOST_HEADER.match(host) else self.ws_url

    async def _connect(self, conn: ServerConnection, request: Request) -> Response | None:
        remote = conn.remote_address
        record = Connection(
            connection_id=new_id(),
            source_ip=str(remote[0]) if remote else "127.0.0.1",
            domain_name=request.headers.get("Host", "localhost"),
            connected_at_ms=now_ms(),
            user_agent=request.headers.get("User-Agent", ""),
            headers=tuple(request.headers.raw_items()),
        )
        function = self._function(CONNECT_ROUTE)
        if function is not None:
            try:
                result = await self._invoke(function, connect_event(record, now_ms(), new_id()))
            except HandlerFailed:
                return http_response(500, b"Internal server error\n")
            if not 200 <= status_of(result) < 300:
                return http_response(403, b"Forbidden\n")
        if isinstance(conn, GatewayConnection):
            conn.record = record
        return None

    # ---- frames -------------------------------------------------------------------------

    async def _session(self, ws: ServerConnection) -> None:
        record = ws.record if isinstance(ws, GatewayConnection) else None
        if record is None:
            return
        opened = self.clock()
        peer = Peer(ws, record, opened, opened)
        self.peers[record.connection_id] = peer
        watchdog = asyncio.get_running_loop().create_task(self._watch_limits(peer))
        try:
            # One frame at a time per connection, so replies keep the frames' order.
            async for frame in ws:
                peer.touch(self.clock())
                await self._route(peer, frame)
        except ConnectionClosed:
            pass  # a 1009 (too big) or a dropped client: $disconnect below either way
        finally:
            watchdog.cancel()
            self.peers.pop(record.connection_id, None)
            await self._disconnect(peer)

    # ---- API Gateway's connection limits ----------------------------------------------

    async def _watch_limits(self, peer: Peer) -> None:
        """Sleeps until the peer's expiry, which activity only moves later, then closes it."""
        while True:
            wait = expiry(peer.opened, peer.active, self.limits) - self.clock()
            if wait <= 0:
                await self._go_away(peer)
                return
            await asyncio.sleep(wait)

    async def expire(self) -> list[str]:
        """Starts closing every connection past a limit now; returns their ids.

        The watchdogs do this by themselves; this is for a caller that moved the clock.
        """
        now = self.clock()
        due = [p for p in self.peers.values() if p.closed_by is None and expiry(p.opened, p.active, self.limits) <= now]
        for peer in due:
            self._spawn(self._go_away(peer))
        return [p.record.connection_id for p in due]

    async def _go_away(self, peer: Peer) -> None:
        """Closes as API Gateway does when it ends a connection; `$disconnect` follows."""
        if peer.closed_by is None:
            peer.closed_by = GOING_AWAY
            await peer.ws.close(*GOING_AWAY)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _route(self, peer: Peer, frame: str | bytes) -> None:
        route_key = select_route(frame, self.keys)
        route = self.functions.wiring.route(route_key)
        request_id = new_id()
        if route is None:
            await self._send(peer, json.dumps({"message": "Forbidden", "requestId": request_id}))
            return
        event = message_event(peer.record, route_key, frame, now_ms(), request_id, new_id())
        try:
            result = await self._invoke(route.function, event)
        except HandlerFailed:
            if route.replies:
                await self._send(peer, internal_error_reply(peer.record, request_id))
            return
        reply = reply_of(result)
        if route.replies and reply is not None:
            if too_large(reply):
                # API Gateway fails such a route response: the client gets nothing.
                log("error", "route_response_too_large", route=route_key, bytes=message_bytes(reply))
                return
            await self._send(peer, reply)

    async def _send(self, peer: Peer, data: str | bytes) -> None:
        """Sends a data frame; like a received one, it resets the idle timer."""
        await peer.ws.send(data)
        peer.touch(self.clock())

    async def _disconnect(self, peer: Peer) -> None:
        function = self._function(DISCONNECT_ROUTE)
        if function is None:
            return
        record = peer.record
        # The gateway's own close is reported with its code even if the client never answered it.
        code, reason = peer.closed_by or (peer.ws.close_code, peer.ws.close_reason or "")
        # A failure is logged; API Gateway ignores $disconnect's outcome too.
        with contextlib.suppress(HandlerFailed):
            await self._invoke(function, disconnect_event(record, now_ms(), new_id(), code, reason))

    # ---- @connections -----------------------------------------------------------------

    async def _manage(self, method: str, connection_id: str, body: bytes) -> Response:
        peer = self.peers.get(connection_id)
        if peer is None:
            return json_response(410, {"message": None}, "GoneException")
        if method == "POST":
            return await self._post(peer, body)
        if method == "GET":
            record = peer.record
            return json_response(
                200,
                {
                    "connectedAt": _iso(record.connected_at_ms),
                    "identity": {"sourceIp": record.source_ip, "userAgent": record.user_agent},
                    "lastActiveAt": _iso(peer.last_active_ms),
                },
            )
        if method == "DELETE":
            # Closing waits for the client's close frame; the caller should not.
            self._spawn(peer.ws.close())
            return http_response(204)
        log("warning", "connections_method_refused", method=method[:16])
        return http_response(405, b"Method Not Allowed\n")

    async def _post(self, peer: Peer, body: bytes) -> Response:
        """PostToConnection: Data is at most 128 KB (131,072 bytes), else 413 as on AWS."""
        if too_large(body):
            return json_response(
                413, {"message": "The data has exceeded the maximum size allowed."}, "PayloadTooLargeException"
            )
        try:
            await self._send(peer, _frame(body))
        except ConnectionClosed:
            return json_response(410, {"message": None}, "GoneException")
        return http_response(200)


def message_bytes(data: str | bytes) -> int:
    return len(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))


def too_large(data: str | bytes) -> bool:
    """Pure: over API Gateway's 128 KB per message, which holds for what it sends too."""
    return message_bytes(data) > MAX_MESSAGE_BYTES


def _frame(data: bytes) -> str | bytes:
    """API Gateway sends posted data as a text frame when it is UTF-8 text."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data
