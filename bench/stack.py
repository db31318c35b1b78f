"""The local stack as a subprocess with the call recorder (bench/hooks) loaded.

The stack runs the handlers in-process against moto, so its boto3 calls cannot be
seen from outside; `site` loads bench/hooks/sitecustomize.py into it instead, and
that module appends every AWS call and handler invocation to `calls_path`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.records import Record
from local import launcher

HOOKS = Path(__file__).resolve().parent / "hooks"
START_SECONDS = 60.0
STOP_SECONDS = 15.0


class StackError(RuntimeError):
    """The local stack did not start (its stderr tail says why)."""


@dataclass(frozen=True)
class Stack:
    ready: launcher.Ready
    """Its URLs, origin, clients, table names and scans (local/launcher.py)."""
    calls_path: Path
    pid: int
    """The stack's process, for its CPU time (bench/machine.py)."""


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def local_stack(workdir: Path, args: Sequence[str] = ()) -> Iterator[Stack]:
    """A fresh `python -m local --port 0 <args>` recording its calls under workdir."""
    calls = workdir / "calls.jsonl"
    errors = workdir / "stack.stderr"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOKS), str(launcher.ROOT), env.get("PYTHONPATH", "")) if p)
    env["BENCH_CALL_LOG"] = str(calls)
    with errors.open("w") as stderr:
        try:
            proc, ready = launcher.launch(args, env=env, stderr=stderr, timeout=START_SECONDS)
        except RuntimeError as exc:
            raise StackError(f"{exc}:\n{_tail(errors)}") from None
        try:
            yield Stack(ready, calls, proc.pid)
        finally:
            with contextlib.suppress(subprocess.TimeoutExpired):
                launcher.stop(proc, STOP_SECONDS)


def read_calls(path: Path) -> list[Record]:
    """The recorder's lines; a line cut short by the stop is skipped."""
    records: list[Record] = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
