"""Helpers for the local-stack tests: the stack as a subprocess, the gateway in-process.

`LocalStack` runs `python -m local --port 0` exactly as a developer does and reads
its ready line; `RunningGateway` runs only the gateway, on its own event loop
thread, with fake handlers, for what a real handler cannot be made to do (fail,
reveal its connectionId).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from handlers.wiring import WIRING
from local import launcher
from local.functions import Functions, Handler
from local.gateway import AWS_LIMITS, DynamicPage, Gateway, Limits
from local.static import CLIENT_DIR

REPO = Path(__file__).resolve().parents[2]
START_SECONDS = 30.0


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Polls until condition returns something truthy; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass(frozen=True)
class LocalStack(launcher.Ready):
    """`python -m local --port 0` in a subprocess, as its ready line described it; stderr
    kept in a file for failure messages."""

    process: subprocess.Popen[str]
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @classmethod
    def start(cls, *args: str) -> LocalStack:
        stderr_file = tempfile.NamedTemporaryFile("w", prefix="local-stack-", suffix=".log", delete=False)  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        try:
            process, ready = launcher.launch(args, env=env, stderr=stderr_file, timeout=START_SECONDS)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}\n{Path(stderr_file.name).read_text()}") from None
        finally:
            stderr_file.close()
        return cls(**vars(ready), process=process, stderr_path=Path(stderr_file.name))

    def terminate(self, timeout: float = 10.0) -> int:
        return launcher.stop(self.process, timeout)


class RunningGateway:
    """The gateway alone on a free port, with the given fake handlers (by function name)."""

    def __init__(
        self,
        handlers: dict[str, Handler],
        client_root: Path | None = None,
        pages: dict[str, DynamicPage] | None = None,
        limits: Limits = AWS_LIMITS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.client_root = client_root or CLIENT_DIR
        self.gateway = Gateway(
            Functions(WIRING, handlers), self.ws_url, self.client_root, pages=pages, limits=limits, clock=clock
        )
        self.server = asyncio.run_coroutine_threadsafe(self.gateway.start(sock), self.loop).result(5)

    def expire(self) -> list[str]:
        """Runs the gateway's limit check once, on its loop; the ids it started closing."""
        return asyncio.run_coroutine_threadsafe(self.gateway.expire(), self.loop).result(5)

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
