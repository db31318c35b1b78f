"""Start `python -m local` as a child process and wait for its ready line.

For the programs that drive the stack from outside (the end-to-end, browser and
reliability tests, and the benchmarks): one place knows the command, the ready
line's format and how to stop the stack, so none of them can drift from the CLI.
`Ready` is the handle they share: the gateway's origin, boto3 clients on the
emulator with its fake credentials, table and queue names, a whole-table scan.
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

from handlers.wiring import physical_table_name, queue_name
from local import emulator

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

    @property
    def port(self) -> int:
        """The gateway's port (the stack was asked for any free one)."""
        return int(self.ws_url.rsplit(":", 1)[1])

    def client(self, service: str, max_attempts: int = 3) -> Any:
        """A new boto3 client on the emulator (clients are not shared between threads)."""
        return emulator.client(service, self.aws_url, max_attempts)

    def table(self, name: str) -> str:
        """A table's physical name, from its logical one (handlers/wiring.py)."""
        return physical_table_name(self.stack, name)

    def scan(self, table: str, ddb: Any = None) -> list[dict[str, Any]]:
        """Every item of a table (logical name), read consistently."""
        return scan(ddb or self.client("dynamodb"), self.table(table))

    def queue_depth(self, queue: str, sqs: Any = None) -> int:
        """Messages in a queue (QueueSpec name, or `<name>-dlq`), in flight or not."""
        sqs = sqs or self.client("sqs")
        return queue_depth(sqs, sqs.get_queue_url(QueueName=queue_name(self.stack, queue))["QueueUrl"])


def scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    """Every item of a table (physical name), page by page, read consistently."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def queue_depth(sqs: Any, url: str) -> int:
    """Messages in a queue, in flight or not: 0 once its consumer has taken them all."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[n]) for n in names)


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
