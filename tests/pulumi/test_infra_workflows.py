"""The GitHub workflows: valid against GitHub's schema, and doing what the README promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.stack_graph import API, ROOT, StackGraph

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
    workflow: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return workflow


def _on(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as the boolean True.
    triggers: dict[str, Any] = workflow.get("on") or workflow[True]
    return triggers


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


def _run_step(step: dict[str, Any], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A `run:` step's script under bash, as the runner runs it (`bash -e {0}`)."""
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        env={"PATH": "/usr/bin:/bin", "GITHUB_REPOSITORY": "owner/blog", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_workflows_preview_assumes_the_preview_role_only() -> None:
    """The deploy role trusts only the stage/prod environments: a pull request cannot assume it,
    and its trust must not be widened, so there is no fallback to it."""
    workflow = _load("preview.yml")
    (aws,) = _steps_using(workflow, "aws-actions/configure-aws-credentials@")
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    assert "AWS_DEPLOY_ROLE_ARN" not in (WORKFLOWS / "preview.yml").read_text()


def test_workflows_preview_fails_first_with_a_clear_message_without_the_preview_role() -> None:
    (job,) = _load("preview.yml")["jobs"].values()
    check = job["steps"][0]
    assert check["env"]["AWS_PREVIEW_ROLE_ARN"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    missing = _run_step(check, {"AWS_PREVIEW_ROLE_ARN": ""})
    assert missing.returncode != 0
    assert missing.stdout.startswith("::error title=AWS_PREVIEW_ROLE_ARN is not set::")
    assert "repo:owner/blog:pull_request" in missing.stdout
    assert _run_step(check, {"AWS_PREVIEW_ROLE_ARN": "arn:aws:iam::123456789012:role/preview"}).returncode == 0


def test_workflows_deploy_environment_url_is_an_https_output_of_the_program(stage: StackGraph) -> None:
    """GitHub shows a deployment's link only for http(s): not the wss:// endpoint."""
    (job,) = _load("deploy.yml")["jobs"].values()
    match = re.fullmatch(r"\$\{\{ steps\.pulumi\.outputs\.(\w+) \}\}", job["environment"]["url"])
    assert match, job["environment"]["url"]
    url = stage.outputs[match.group(1)]
    assert url.startswith("https://"), url
    (api,) = stage.of_type(API)
    assert f"/apis/{api.name}-id/" in url and "region=eu-west-1" in url


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_workflows_layer_cache_key_covers_the_pinned_closure_and_the_pip_flags(name: str) -> None:
    (cache,) = _steps_using(_load(name), "actions/cache@")
    key = cache["with"]["key"]
    assert "'handlers/requirements.txt'" in key and "'components/packaging.py'" in key


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_workflows_test_and_deploy_on_lambdas_python(name: str) -> None:
    workflow = _load(name)
    (setup,) = _steps_using(workflow, "actions/setup-python@")
    assert setup["with"]["python-version"] == ".".join(map(str, packaging.LAMBDA_PYTHON)), "not Lambda's Python"
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    assert any("pytest -q tests/pulumi" in s.get("run", "") for s in steps), "make test-py312 runs this on 3.12"
