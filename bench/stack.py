"""The local stack as a subprocess with the call recorder (bench/hooks) loaded.

The stack runs the handlers in-process against moto, so its boto3 calls cannot be
seen from outside; `site` loads bench/hooks/sitecustomize.py into it instead, and
that module appends every AWS call and handler invocation to `calls_path`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOOKS = Path(__file__).resolve().parent / "hooks"
READY = re.compile(r"^ready ws=(?P<ws>\S+) aws=(?P<aws>\S+) stack=(?P<stack>\S+)$")
START_SECONDS = 60.0
STOP_SECONDS = 15.0


class StackError(RuntimeError):
    """The local stack did not start (its stderr tail says why)."""


@dataclass(frozen=True)
class Stack:
    ws_url: str
    aws_endpoint: str
    stack: str
    calls_path: Path

    @property
    def origin(self) -> str:
        """The gateway admits its own origin (it serves the demo blog)."""
        return "http://" + self.ws_url.removeprefix("ws://")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _read_ready(proc: subprocess.Popen[str], timeout: float) -> re.Match[str] | None:
    found: list[re.Match[str] | None] = [None]

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = READY.match(line.strip())
            if match:
                found[0] = match
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0]


@contextmanager
def local_stack(workdir: Path) -> Iterator[Stack]:
    """A fresh `python -m local --port 0` recording its calls under workdir."""
    calls = workdir / "calls.jsonl"
    errors = workdir / "stack.stderr"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOKS), str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["BENCH_CALL_LOG"] = str(calls)
    with errors.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "local", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            match = _read_ready(proc, START_SECONDS)
            if match is None:
                raise StackError(f"the local stack printed no ready line:\n{_tail(errors)}")
            yield Stack(match["ws"], match["aws"], match["stack"], calls)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def read_calls(path: Path) -> list[dict[str, Any]]:
    """The recorder's lines; a line cut short by the stop is skipped."""
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
