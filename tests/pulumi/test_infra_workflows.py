"""The GitHub workflows: valid against GitHub's schema, and doing what the README promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from stack_graph import ROOT

from components import packaging

WORKFLOWS = ROOT / ".github" / "workflows"


def _check_schema(*files: Path) -> subprocess.CompletedProcess[str]:
    # The schema ships inside check-jsonschema (vendored), so this needs no network.
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _load(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def _on(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as the boolean True.
    return workflow.get("on") or workflow[True]


def _steps_using(workflow: dict[Any, Any], action: str) -> list[dict[str, Any]]:
    return [s for job in workflow["jobs"].values() for s in job["steps"] if s.get("uses", "").startswith(action)]


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_workflows_validate_against_the_github_workflow_schema(name: str) -> None:
    result = _check_schema(WORKFLOWS / name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("name: broken\non: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps: not-a-list\n")
    assert _check_schema(broken).returncode != 0


def test_workflows_preview_runs_for_both_stacks_on_pull_requests_with_a_comment() -> None:
    workflow = _load("preview.yml")
    assert "pull_request" in _on(workflow)
    (job,) = workflow["jobs"].values()
    assert job["strategy"]["matrix"]["stack"] == ["stage", "prod"]
    (pulumi,) = _steps_using(workflow, "pulumi/actions@")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert workflow["permissions"]["pull-requests"] == "write"


def test_workflows_deploy_ups_stage_on_main_and_prod_on_release() -> None:
    workflow = _load("deploy.yml")
    on = _on(workflow)
    assert on["push"]["branches"] == ["main"]
    assert on["release"]["types"] == ["published"]
    (job,) = workflow["jobs"].values()
    choose = "github.event_name == 'release' && 'prod' || 'stage'"
    assert choose in job["environment"]["name"], "each stack deploys in its own protected environment"
    assert choose in job["concurrency"]["group"] and job["concurrency"]["cancel-in-progress"] is False
    (pulumi,) = _steps_using(workflow, "pulumi/actions@")
    assert pulumi["with"]["command"] == "up"


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_workflows_get_aws_credentials_through_oidc_only(name: str) -> None:
    workflow = _load(name)
    text = (WORKFLOWS / name).read_text()
    assert workflow["permissions"]["id-token"] == "write"
    (aws,) = _steps_using(workflow, "aws-actions/configure-aws-credentials@")
    assert "role-to-assume" in aws["with"]
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_workflows_test_and_deploy_on_lambdas_python(name: str) -> None:
    workflow = _load(name)
    (setup,) = _steps_using(workflow, "actions/setup-python@")
    assert setup["with"]["python-version"] == ".".join(map(str, packaging.LAMBDA_PYTHON)), "not Lambda's Python"
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    assert any("pytest -q tests/pulumi" in s.get("run", "") for s in steps), "make test-py312 runs this on 3.12"
