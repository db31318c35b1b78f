"""Test doubles for the browser tests: a fake gateway, a relay, a page server, a polling helper.

`Site` serves generated pages plus client/analytics.js from 127.0.0.1; `FakeGateway` is a
WebSocket server that records every frame and answers per the protocol (ARCHITECTURE.md
3.1, live counts of 3.1.2 included: `watch` replies and `counts` pushes the test sends),
with knobs to misbehave; `Relay` stands between the browser and the real local
stack and loses or spoils the replies it is told to.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.typing import Origin

from handlers.wiring import POST_COUNT_WRITER
from local import launcher

REPO = Path(__file__).resolve().parents[2]
CLIENT_JS = REPO / "client" / "analytics.js"
VISIBILITY = """
let hidden = false;
Object.defineProperty(Document.prototype, 'hidden', {get: () => hidden});
Object.defineProperty(Document.prototype, 'visibilityState', {get: () => hidden ? 'hidden' : 'visible'});
window.setHidden = (value) => {
  hidden = value;
  document.dispatchEvent(new Event('visibilitychange'));
};
"""
"""An init script: setHidden(true) hides the page and setHidden(false) shows it again."""
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PREFIX = "[blog-analytics]"
# What a person's Chromium shows and headless Chromium does not: no automation flag (an init
# script, so it holds before the page's own scripts run) and a user agent without "Headless".
AS_A_PERSON = "Object.defineProperty(Navigator.prototype, 'webdriver', {get: () => false});"


def person_user_agent(version: str) -> str:
    """Desktop Chrome's user agent for this Chromium version (headless sends HeadlessChrome/...)."""
    return f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{version} Safari/537.36"


START_SECONDS = 60
SETTLE_SECONDS = 30


def wait_until(
    condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition", last: Callable[[], Any] | None = None
) -> Any:
    """Polls condition until it returns something truthy; fails the test after timeout,
    showing `last()` (what was seen instead) when given."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            seen = f"; saw {last()!r}" if last else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what}{seen}")
        time.sleep(0.05)


@dataclass
class Tab:
    """A page plus what it printed; pageerror must stay empty in every test."""

    page: Any
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def said(self) -> list[str]:
        """The client's own console lines (those with the fixed prefix)."""
        return [line for line in self.console if line.startswith(PREFIX)]


# --- fake gateway ------------------------------------------------------------------

PAGES = {"/": "Home_Page", "/pages/about": "About_Page", "/pages/contacts": "Contact_Page"}


class _Server:
    """A WebSocket server on its own event loop thread that records the frames it got."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, dict[str, Any]]] = []  # (connection number, message)
        self.origins: list[str | None] = []
        self.lose = 0  # messages to record and then answer by closing the connection
        self.closed = 0  # connections that have ended
        self._live: set[Any] = set()
        self._numbered: dict[int, Any] = {}
        self._loop = asyncio.new_event_loop()
        self._server: Any  # the websockets Server, made on the loop's thread
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(5)
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    # The views messages received so far, in order.
    @property
    def views(self) -> list[dict[str, Any]]:
        return [m for _, m in self.frames if m.get("message") == "views"]

    @property
    def connections(self) -> int:
        return len(self.origins)

    def drop_connections(self) -> None:
        """Closes every open connection from the server side."""

        async def close_all() -> None:
            for ws in list(self._live):
                await ws.close()

        asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(5)

    def push(self, message: dict[str, Any], connection: int | None = None) -> None:
        """Sends a frame the client did not ask for (a live `counts` push) to one open
        connection, by number, or to every open one."""

        async def send() -> None:
            targets = [self._numbered[connection]] if connection is not None else list(self._live)
            for ws in targets:
                await ws.send(json.dumps(message))

        asyncio.run_coroutine_threadsafe(send(), self._loop).result(5)

    def stop(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await serve(self._serve, "127.0.0.1", 0, process_request=self._check)
            ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def _check(self, connection: Any, request: Any) -> Any:
        return None

    async def _serve(self, ws: Any) -> None:
        number = len(self.origins)
        self.origins.append(ws.request.headers.get("Origin"))
        self._live.add(ws)
        self._numbered[number] = ws
        try:
            await self._converse(ws, number)
        except Exception:  # a dropped connection ends the handler quietly
            pass
        finally:
            self._live.discard(ws)
            self.closed += 1

    async def _converse(self, ws: Any, number: int) -> None:
        raise NotImplementedError

    def _lost(self) -> bool:
        """True when this message's reply is to be lost: the connection closes instead."""
        if self.lose:
            self.lose -= 1
            return True
        return False


class FakeGateway(_Server):
    """A WebSocket server that answers like the real gateway and records what it got."""

    def __init__(self) -> None:
        self.replies: list[dict[str, Any]] = []  # answers to use before the normal ones
        self.refuse = False  # fail handshakes with 403, as a refused $connect does
        self.totals: dict[str, list[int]] = {}
        self.reading: dict[str, int] = {}  # readingNow per post or page (1 when not set)
        self.before_reply: list[dict[str, Any]] = []  # frames sent before the next reply, e.g. pushes
        self.live_off = False  # answer as a stack with liveIntervalSeconds 0: no readingNow
        super().__init__()

    def _check(self, connection: Any, request: Any) -> Any:
        if self.refuse:
            return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden\n")
        return None

    async def _converse(self, ws: Any, number: int) -> None:
        async for raw in ws:
            message = json.loads(raw)
            self.frames.append((number, message))
            while self.before_reply:
                await ws.send(json.dumps(self.before_reply.pop(0)))
            if self._lost():
                await ws.close()
                return
            await ws.send(json.dumps(self._answer(message)))

    def _answer(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.replies:
            return self.replies.pop(0)
        if message.get("message") == "stats":
            ids = message.get("articleIds", [])
            return {
                "message": "stats",
                "articles": [self._count({"articleId": i}, i) for i in ids],
                "pages": [self._count({"page": p}, p) for p in PAGES.values()],
            }
        if message.get("message") == "watch":
            return {
                "message": "watch",
                "status": "ok",
                "articles": [self._count({"articleId": i}, i, live=True) for i in message.get("articleIds", [])],
                "pages": [self._count({"page": p}, p, live=True) for p in message.get("pages", [])],
            }
        if message.get("message") != "views":
            return {"message": "error", "error": "unknown_route"}
        path = str(message.get("currentPage", ""))
        key = str(message.get("articleId") or PAGES.get(path, path))
        total_unique = self.totals.setdefault(key, [0, 0])
        total_unique[0] += 1
        total_unique[1] += 0 if message.get("refreshed") else 1
        who = {"articleId": key} if message.get("articleId") else {"page": key}
        return {"message": "views", "status": "ok", **self._count(who, key, live=True)}

    def _count(self, who: dict[str, str], key: str, live: bool = False) -> dict[str, Any]:
        total, unique = self.totals.get(key, [0, 0])
        reading = {"readingNow": self.reading.get(key, 1)} if live and not self.live_off else {}
        return {**who, "totalViews": total, "uniqueViews": unique, **reading}


UNAVAILABLE = {"message": "error", "error": "unavailable", "detail": "try again shortly"}


class Relay(_Server):
    """Passes each frame to a real gateway and its reply back, one connection upstream per
    browser connection, opened with an Origin the gateway admits. `lose` replies are
    dropped by closing the browser's connection; `unavailable` replies are swapped for
    that error, as when SNS accepted the publish but its response timed out."""

    def __init__(self, upstream: str, origin: str) -> None:
        self.upstream = upstream
        self.upstream_origin = origin
        self.unavailable = 0
        super().__init__()

    async def _converse(self, ws: Any, number: int) -> None:
        async with connect(self.upstream, origin=Origin(self.upstream_origin)) as gateway:
            async for raw in ws:
                message = json.loads(raw)
                self.frames.append((number, message))
                await gateway.send(raw)
                reply = await gateway.recv()
                if self._lost():
                    await ws.close()
                    return
                if self.unavailable and message.get("message") == "views":
                    self.unavailable -= 1
                    reply = json.dumps(UNAVAILABLE)
                await ws.send(reply)


# --- page server -------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>{head}</head>
<body><h1>{title}</h1>{body}
<script src="/analytics.js" data-endpoint="{endpoint}" {automation}{attrs}></script>
</body></html>
"""


class Site:
    """Serves pages added by the test, and /analytics.js from client/, over plain HTTP."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/analytics.js":
                    body, kind = CLIENT_JS.read_bytes(), "text/javascript"
                elif path in pages:
                    body, kind = pages[path].encode(), "text/html; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def add(
        self,
        path: str,
        endpoint: str,
        attrs: str = "data-allow-localhost",
        head: str = "",
        body: str = "",
        title: str = "Test page",
        allow_automation: bool = True,
    ) -> str:
        """Adds a page that loads the client with these script attributes; returns its URL.

        The client counts nothing in an automated browser, which these tests drive, unless
        the page opts in (`data-allow-automation`), as test pages do unless told not to."""
        automation = "data-allow-automation " if allow_automation else ""
        self.pages[path] = PAGE.format(
            title=title, head=head, body=body, endpoint=endpoint, attrs=attrs, automation=automation
        )
        return self.origin + path

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- the real local stack ----------------------------------------------------------


@dataclass(frozen=True)
class Stack(launcher.Ready):
    """`python -m local` running as a child process, as its ready line described it."""

    process: subprocess.Popen[str]
    log: Path

    def post_counts(self, article_id: str) -> tuple[int, int] | None:
        """(total, unique) as the counter wrote them, or None before its first write."""
        item = self.client("dynamodb").get_item(
            TableName=self.table(POST_COUNT_WRITER), Key={"articleId": {"S": article_id}}, ConsistentRead=True
        )
        if "Item" not in item:
            return None
        return int(item["Item"]["totalViews"]["N"]), int(item["Item"]["uniqueViews"]["N"])
