"""The reliability suite's profile, its figures, and the local stack as a fixture.

`RELIABILITY_PROFILE=full` (`make reliability`) runs the issue's numbers; unset
(`make test`) runs the same assertions on smaller numbers. The profile is read here
once. Timing figures are reported (printed, and in the full profile written to
FIGURES.md), never asserted.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .stack import LocalStack, start_stack

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Profile:
    name: str
    fuzz_messages: int
    """Hypothesis-generated frames sent through the gateway (each followed by a stats probe)."""
    fault_views: int
    """Views pushed through the in-process pipeline per fault scenario."""
    load_clients: int
    load_views: int
    load_articles: int
    settle_seconds: float
    """How long the local stack may take to count everything before a test fails."""
    timeout_seconds: int
    """pytest-timeout for one test module's run (its module fixture included)."""


PROFILES = {
    "ci": Profile(
        "ci",
        fuzz_messages=300,
        fault_views=80,
        load_clients=10,
        load_views=300,
        load_articles=50,
        settle_seconds=60,
        timeout_seconds=300,
    ),
    "full": Profile(
        "full",
        fuzz_messages=5000,
        fault_views=500,
        load_clients=100,
        load_views=10_000,
        load_articles=50,
        settle_seconds=600,
        timeout_seconds=3600,
    ),
}
PROFILE = PROFILES[os.environ.get("RELIABILITY_PROFILE") or "ci"]


@pytest.fixture(scope="session")
def profile() -> Profile:
    return PROFILE


class Figures:
    """Measured numbers, by section; printed at the end and kept in FIGURES.md (full profile)."""

    def __init__(self) -> None:
        self.sections: dict[str, list[str]] = {}

    def add(self, section: str, line: str) -> None:
        self.sections.setdefault(section, []).append(line)
        print(f"[{section}] {line}")

    def markdown(self, earlier: str = "") -> str:
        """This session's sections, keeping sections of an earlier run that this one did not measure."""
        kept = {}
        for block in earlier.split("\n## ")[1:]:
            title, _, body = block.partition("\n")
            kept[title.strip()] = ["", *body.strip("\n").split("\n")]
        kept.update({title: ["", *(f"- {row}" for row in rows)] for title, rows in self.sections.items()})
        lines = [f"# Reliability figures (profile `{PROFILE.name}`)", "", *machine(), ""]
        for title, section in kept.items():
            lines += [f"## {title}", *section, ""]
        return "\n".join(lines)


def machine() -> list[str]:
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout.split("\n")
    total = memory[1].split()[1] if len(memory) > 1 and len(memory[1].split()) > 1 else "?"
    return [
        f"Machine: {os.cpu_count()} CPUs (`nproc`), {total} RAM (`free -h`), "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}."
    ]


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    collected = Figures()
    yield collected
    if collected.sections:
        sys.stdout.write("\n" + collected.markdown() + "\n")
        if PROFILE.name == "full":
            target = HERE / "FIGURES.md"
            target.write_text(collected.markdown(target.read_text() if target.exists() else ""))


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """One local stack per test module, so each module's counts and logs are its own."""
    running = start_stack()
    yield running
    running.stop()
