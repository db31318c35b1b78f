"""The local stack (`python -m local --port 0`) as a subprocess the tests talk to.

Not local/launcher.launch(): these tests run the stack under a spy that records
connection ids, and read stdout and stderr whole; the ready line is still parsed by
the launcher, so its format lives in one place.

Output is read as bytes and split on LF only: a text-mode pipe would turn a stray CR
into a line break and hide exactly the log injection the privacy tests look for.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from local.launcher import ROOT, Ready, parse_ready, queue_depth

START_SECONDS = 60
STOP_SECONDS = 15

# Runs the local stack unchanged, but writes every connection id the gateway makes to
# a file, so the privacy test knows what it must not find. Only the test sees them.
_SPY = """
import os, sys
import local.gateway as gateway
from local.routing import Connection

def _recorded(**fields):
    with open(os.environ["RELIABILITY_CONNECTION_IDS"], "a") as out:
        out.write(fields["connection_id"] + "\\n")
    return Connection(**fields)

gateway.Connection = _recorded
from local.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


class _Lines(threading.Thread):
    """Collects a pipe's lines (bytes, split on LF only)."""

    def __init__(self, pipe: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.lines: list[bytes] = []
        self.changed = threading.Condition()

    def run(self) -> None:
        for line in iter(self.pipe.readline, b""):
            with self.changed:
                self.lines.append(line.removesuffix(b"\n"))
                self.changed.notify_all()

    def wait_for(self, match: Callable[[bytes], bool], timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = next((line for line in self.lines if match(line)), None)
                if found is not None or not self.is_alive():
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)


class LocalStack:
    def __init__(self, process: subprocess.Popen[bytes], out: _Lines, err: _Lines, ids_file: Path | None) -> None:
        self.process, self._out, self._err, self._ids_file = process, out, err, ids_file
        line = out.wait_for(lambda line: parse_ready(line.decode(errors="replace")) is not None, START_SECONDS)
        ready = parse_ready(line.decode(errors="replace")) if line is not None else None
        if ready is None:
            self.stop()
            tail = b"\n".join(err.lines[-20:]).decode(errors="replace")
            raise RuntimeError(f"the local stack printed no ready line:\n{tail}")
        self.ready: Ready = ready
        self._clients: dict[str, Any] = {}

    # ---- AWS at aws= ------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A boto3 client on the emulator; one per service, for the test's own thread."""
        if service not in self._clients:
            self._clients[service] = self.ready.client(service, max_attempts=5)
        return self._clients[service]

    def counts(self, table: str, key: str, ddb: Any = None) -> dict[str, tuple[int, int]]:
        """{key: (totalViews, uniqueViews)} of one count table (logical name)."""
        return {
            i[key]["S"]: (int(i.get("totalViews", {}).get("N", 0)), int(i.get("uniqueViews", {}).get("N", 0)))
            for i in self.ready.scan(table, ddb or self.client("dynamodb"))
        }

    def queue_urls(self) -> list[str]:
        return list(self.client("sqs").list_queues(QueueNamePrefix=f"{self.ready.stack}-").get("QueueUrls", []))

    def depth(self, url: str) -> int:
        return queue_depth(self.client("sqs"), url)

    def dlq_depths(self) -> dict[str, int]:
        return {url.rsplit("/", 1)[1]: self.depth(url) for url in self.queue_urls() if url.endswith("-dlq")}

    def settled(self) -> bool:
        """Every work queue empty (nothing in flight) and the reader a copy of the writer."""
        if any(self.depth(url) for url in self.queue_urls() if not url.endswith("-dlq")):
            return False
        return self.counts("PostCountWriter", "articleId") == self.counts("PostCountReader", "articleId")

    def settle(self, timeout: float) -> float:
        """Wait until settled three checks in a row; the seconds it took (or raise)."""
        start = time.monotonic()
        streak = 0
        while time.monotonic() - start < timeout:
            streak = streak + 1 if self.settled() else 0
            if streak == 3:
                return time.monotonic() - start
            time.sleep(0.3)
        depths = {url.rsplit("/", 1)[1]: self.depth(url) for url in self.queue_urls()}
        writer = self.counts("PostCountWriter", "articleId")
        reader = self.counts("PostCountReader", "articleId")
        behind = {a: (writer[a], reader.get(a)) for a in writer if writer[a] != reader.get(a)}
        raise AssertionError(
            f"the local stack did not settle within {timeout} s: queue depths {depths}; "
            f"{len(behind)} reader items differ from the writer (writer, reader): {dict(list(behind.items())[:10])}"
        )

    # ---- logs -------------------------------------------------------------------------

    def log_lines(self) -> list[bytes]:
        """Every line the stack wrote after `ready`: stdout (handlers on AWS) and stderr."""
        out = self._out.lines[1:]
        return [line for line in [*out, *self._err.lines] if line]

    def handler_failures(self) -> list[bytes]:
        """Lines that report a handler exception, or that are not JSON (a traceback)."""
        bad = []
        for line in self.log_lines():
            record = parse_log_line(line)
            if record is None or record.get("event") == "handler_failed" or "Traceback" in str(record):
                bad.append(line)
        return bad

    def connection_ids(self) -> list[str]:
        if self._ids_file is None or not self._ids_file.exists():
            return []
        return self._ids_file.read_text().split()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_SECONDS)
        self._out.join(STOP_SECONDS)
        self._err.join(STOP_SECONDS)


def parse_log_line(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line.decode("utf-8"))
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def start_stack(ids_file: Path | None = None) -> LocalStack:
    """`python -m local --port 0`; with ids_file, every connection id is also written there."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}
    env.pop("AWS_PROFILE", None)
    if ids_file is None:
        command = [sys.executable, "-m", "local", "--port", "0"]
    else:
        env["RELIABILITY_CONNECTION_IDS"] = str(ids_file)
        command = [sys.executable, "-c", _SPY, "--port", "0"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    out, err = _Lines(process.stdout), _Lines(process.stderr)
    out.start()
    err.start()
    return LocalStack(process, out, err, ids_file)
