"""CI runs what the workflows run, on their Python: Lambda's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from support.stack_graph import ROOT

from components import packaging

LAMBDA_PYTHON = ".".join(map(str, packaging.LAMBDA_PYTHON))
FIND_PYTHON = ROOT / ".ci" / "find-python"


def _find_python(version: str, path: Path) -> subprocess.CompletedProcess[str]:
    # Only `path` on PATH: no pyenv, no system Python.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYENV")} | {"PATH": str(path)}
    command = ["/bin/bash", str(FIND_PYTHON), version]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def test_ci_make_test_also_runs_the_workflows_tests_on_their_python() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert f"$(shell .ci/find-python {LAMBDA_PYTHON})" in makefile, "make test looks for another Python"
    tests = re.search(r"^TESTS312 := (.*)$", makefile, re.MULTILINE)
    assert tests and "tests/pulumi" in tests.group(1).split(), "the workflows' tests/pulumi is not run on 3.12"
    assert re.search(r"^test: .*\n(\t.*\n)*\t@\$\(MAKE\) --no-print-directory test-py312$", makefile, re.MULTILINE)


def test_ci_find_python_prints_an_interpreter_of_that_version(tmp_path: Path) -> None:
    version = ".".join(map(str, sys.version_info[:2]))
    (tmp_path / f"python{version}").symlink_to(sys.executable)
    found = _find_python(version, tmp_path)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()).resolve() == Path(sys.executable).resolve()


def test_ci_find_python_finds_nothing_behind_a_shim_that_is_not_activated(tmp_path: Path) -> None:
    shim = tmp_path / f"python{LAMBDA_PYTHON}"
    shim.write_text("#!/bin/sh\necho 'pyenv: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    found = _find_python(LAMBDA_PYTHON, tmp_path)
    assert (found.returncode, found.stdout) == (1, "")
