"""Start `python -m local` as a child process and wait for its ready line.

For the programs that drive the stack from outside (the end-to-end, browser and
reliability tests, and the benchmarks): one place knows the command, the ready
line's format and how to stop the stack, so none of them can drift from the CLI.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
READY_LINE = re.compile(r"^ready ws=(?P<ws>ws://\S+) aws=(?P<aws>http://\S+) stack=(?P<stack>\S+)$")


def ready_line(host: str, port: int, endpoint: str, stack: str) -> str:
    """The one line `python -m local` prints on stdout when it is ready."""
    return f"ready ws=ws://{host}:{port} aws={endpoint} stack={stack}"


@dataclass(frozen=True)
class Ready:
    ws_url: str
    aws_url: str
    stack: str
    line: str

    @property
    def origin(self) -> str:
        """The gateway's own http origin, always admitted (it serves the demo blog)."""
        return "http://" + self.ws_url.removeprefix("ws://")


def parse_ready(line: str) -> Ready | None:
    match = READY_LINE.match(line.strip())
    return Ready(match["ws"], match["aws"], match["stack"], line.strip()) if match else None


def _first_line(stream: IO[Any], timeout: float) -> str:
    """The first line of a pipe, without blocking past the timeout (readline cannot time out)."""
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not found:
        return ""
    line = found[0]
    return line.decode(errors="replace") if isinstance(line, bytes) else str(line)


def launch(
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    stderr: Any = None,
    text: bool = True,
    timeout: float = 60.0,
) -> tuple[subprocess.Popen[Any], Ready]:
    """`python -m local --port 0 <args>` from the repository root; its stdout stays piped.

    Raises RuntimeError (and kills the child) when no ready line comes in time.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "--port", "0", *args],
        cwd=ROOT,
        env=dict(os.environ if env is None else env),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=text,
    )
    assert process.stdout is not None
    line = _first_line(process.stdout, timeout)
    ready = parse_ready(line)
    if ready is None:
        process.kill()
        process.wait()
        raise RuntimeError(f"python -m local printed no ready line within {timeout:.0f} s (got {line!r})")
    return process, ready


def stop(process: subprocess.Popen[Any], timeout: float = 15.0) -> int:
    """SIGTERM, as a service manager would; kill only if it overstays. Returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
