"""Fixtures for the Pulumi program's tests: the program run under mocks, once per stack.

Each stack runs in its own process (tests/pulumi/run_program.py) because the Pulumi
runtime keeps its settings, config and root stack in process-global state.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.stack_graph import ROOT, ProgramFailed, RunStack, StackGraph

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def run_stack(tmp_path_factory: pytest.TempPathFactory) -> RunStack:
    """Run the program for a stack and config file; returns its resource graph.

    The account is a fresh one (no API Gateway CloudWatch role) unless account_role_set.
    """
    build_root = tmp_path_factory.mktemp("layer-cache")

    def run(stack: str, config: Path | None = None, account_role_set: bool = False) -> StackGraph:
        out = tmp_path_factory.mktemp(f"graph-{stack}") / "graph.json"
        result = subprocess.run(
            [
                sys.executable,
                str(HERE / "run_program.py"),
                "--stack",
                stack,
                "--config",
                str(config or ROOT / f"Pulumi.{stack}.yaml"),
                "--out",
                str(out),
                "--build-root",
                str(build_root),
                *(["--account-role-set"] if account_role_set else []),
            ],
            cwd=ROOT,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise ProgramFailed(result.stderr)
        return StackGraph.load(out)

    return run


@pytest.fixture(scope="session")
def stage(run_stack: RunStack) -> StackGraph:
    return run_stack("stage")


@pytest.fixture(scope="session")
def prod(run_stack: RunStack) -> StackGraph:
    return run_stack("prod")


@pytest.fixture(scope="session", params=["stage", "prod"])
def stack(request: pytest.FixtureRequest, run_stack: RunStack) -> StackGraph:
    """Each deployable stack in turn, for rules that hold in both."""
    graph: StackGraph = request.getfixturevalue(request.param)
    return graph
