"""The IAM policies the README gives for the report are enough, and nothing more.

Every AWS call the report and `set-title` make on moto is recorded (as IAM names it:
`dynamodb:<Operation>` on a table, `cloudwatch:<Operation>` on "*"), then compared both
ways with the README's policy: each call is allowed, and each allowed action and table is used.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from support.aws import ACCOUNT, REGION, STACK, Cloud
from support.events import post_item
from support.report_data import fill_example, stack_root

from handlers.wiring import POST_COUNT_WRITER
from report.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
Calls = set[tuple[str, str]]
# CloudWatch's metric reads support no resource-level permissions: IAM wants Resource "*".
ANY_RESOURCE = "*"
IAM_PREFIXES = {"monitoring": "cloudwatch"}
"""botocore's endpoint prefix -> IAM's service prefix, where they differ."""


def documented_policy(name: str) -> Calls:
    """(action, table) pairs the README's `<!-- policy: name -->` JSON allows, for the tests' stack."""
    text = README.read_text()
    match = re.search(rf"<!-- policy: {re.escape(name)} -->\n```json\n(.*?)\n```", text, re.DOTALL)
    assert match, f"README has no policy block {name!r}"
    policy = json.loads(match.group(1))
    allowed: Calls = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            if resource == ANY_RESOURCE:
                assert all(a.startswith("cloudwatch:") for a in actions), f"{actions}: scope them to tables"
                allowed |= {(action, ANY_RESOURCE) for action in actions}
                continue
            arn = resource.replace("<region>", REGION).replace("<account>", ACCOUNT).replace("<stack>", STACK)
            prefix = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
            assert arn.startswith(prefix), f"{resource}: a table ARN in the stack's region and account"
            allowed |= {(action, arn.removeprefix(prefix)) for action in actions}
    return allowed


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    calls: Calls = set()
    original = BaseClient._make_api_call

    def record(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        prefix = self.meta.service_model.endpoint_prefix
        service = IAM_PREFIXES.get(prefix, prefix)
        calls.add((f"{service}:{operation}", str(params.get("TableName", ANY_RESOURCE))))
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    yield calls


def run(root: Path, *argv: str) -> None:
    err = io.StringIO()
    assert main([*argv, "--stack", STACK], io.StringIO(), err, date(2026, 11, 30), root) == 0, err.getvalue()


def test_report_policy_allows_every_read_and_nothing_more(cloud: Cloud, tmp_path: Path, recorded: Calls) -> None:
    fill_example(cloud)
    root = stack_root(tmp_path)
    recorded.clear()  # only what the report does
    run(root)
    run(root, "--json", "--csv", str(tmp_path / "csv"), "--html", str(tmp_path / "r.html"))
    run(root, "--by", "hour", "--since", "2026-11-05", "--until", "2026-11-05", "--json")
    assert recorded == documented_policy("report")


def test_report_reads_the_series_only_by_query(cloud: Cloud, tmp_path: Path, recorded: Calls) -> None:
    fill_example(cloud)
    recorded.clear()
    run(stack_root(tmp_path), "--json")
    assert {action for action, table in recorded if table.endswith("-Series")} == {"dynamodb:Query"}


def test_set_title_policy_allows_every_write_and_nothing_more(cloud: Cloud, tmp_path: Path, recorded: Calls) -> None:
    cloud.put(POST_COUNT_WRITER, post_item("hello-world", 3, 2, "Old"))
    root = stack_root(tmp_path)
    recorded.clear()
    run(root, "set-title", "hello-world", "New")
    assert recorded == documented_policy("set-title")
