"""Run the Pulumi program of one stack under Pulumi's mocks and write its resource graph as JSON.

Used by the tests in a subprocess per stack, because the Pulumi runtime's settings, config
and root stack are process-global: one process per stack keeps stage and prod apart.

    python tests/pulumi/run_program.py --stack stage --config Pulumi.stage.yaml --out graph.json

The layer build is redirected to --build-root with a fake pip (no network); everything
else is the real program. The account is a fresh one unless --account-role-set: like AWS,
the run fails on a stage with access logs while API Gateway's CloudWatch role is unset.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
import tomllib
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from _pytest.config import parse_warning_filter

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def apply_test_warning_filters() -> None:
    """pytest's filterwarnings (pyproject.toml), here too, from the program's imports on:
    it runs outside pytest, and a deprecation in components/ or __main__.py must fail its tests."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for line in config["tool"]["pytest"]["ini_options"]["filterwarnings"]:
        warnings.filterwarnings(*parse_warning_filter(line, escape=False))


apply_test_warning_filters()

import pulumi  # noqa: E402
from pulumi.runtime.mocks import MockMonitor  # noqa: E402

from components import packaging  # noqa: E402

PROJECT = "blog-analytics"
ACCOUNT = "123456789012"
REGION = "eu-west-1"


def fake_pip(args: Sequence[str]) -> None:
    """Stands in for pip: one deterministic file where the dependencies would go."""
    target = Path(args[list(args).index("--target") + 1])
    (target / "pydantic").mkdir(parents=True, exist_ok=True)
    (target / "pydantic" / "__init__.py").write_text("# fake layer built by tests/pulumi\n")


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def computed_state(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The outputs AWS would compute for a resource, enough for the program to wire ARNs."""
    physical = inputs.get("name") or f"{name}-abc1234"
    state: dict[str, Any] = {"name": physical}
    if typ == "aws:dynamodb/table:Table":
        state["arn"] = _arn("dynamodb", f"table/{physical}")
        if inputs.get("streamEnabled"):
            state["streamArn"] = _arn("dynamodb", f"table/{physical}/stream/2025-01-01T00:00:00.000")
    elif typ == "aws:sqs/queue:Queue":
        state["arn"] = _arn("sqs", physical)
        state["url"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{physical}"
    elif typ == "aws:sns/topic:Topic":
        state["arn"] = _arn("sns", physical)
    elif typ == "aws:lambda/function:Function":
        state["arn"] = _arn("lambda", f"function:{physical}")
        state["invokeArn"] = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{state['arn']}/invocations"
    elif typ == "aws:lambda/layerVersion:LayerVersion":
        state["arn"] = _arn("lambda", f"layer:{inputs.get('layerName')}:1")
    elif typ == "aws:iam/role:Role":
        state["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{physical}"
    elif typ == "aws:cloudwatch/logGroup:LogGroup":
        state["arn"] = _arn("logs", f"log-group:{physical}")
    elif typ == "aws:apigatewayv2/api:Api":
        api_id = f"{name}-id"
        state["executionArn"] = _arn("execute-api", api_id)
        state["apiEndpoint"] = f"wss://{api_id}.execute-api.{REGION}.amazonaws.com"
    elif typ == "aws:apigatewayv2/stage:Stage":
        state["invokeUrl"] = f"wss://{inputs['apiId']}.execute-api.{REGION}.amazonaws.com/{physical}"
    else:
        state.pop("name")
    return state


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.inputs[(args.typ, args.name)] = args.inputs
        return f"{args.name}-id", {**args.inputs, **computed_state(args.typ, args.name, args.inputs)}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": REGION, "region": REGION, "id": REGION}, None
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/test", "userId": "test"}, None
        return {}, None


class RecordingMonitor(MockMonitor):
    """The mock monitor, also keeping what mocks do not see: parent, dependencies, protect."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[dict[str, Any]] = []

    def RegisterResource(self, request: Any) -> Any:
        self.registrations.append(
            {
                "type": request.type,
                "name": request.name,
                "urn": self.make_urn(request.parent, request.type, request.name),
                "parent": request.parent,
                "dependencies": sorted(request.dependencies),
                "protect": bool(request.protect),
                "custom": bool(request.custom),
            }
        )
        # pulumi's MockMonitor is untyped.
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


CLOUDWATCH_ROLE_UNSET = (
    "BadRequestException: CloudWatch Logs role ARN must be set in account settings to enable logging"
)


def logging_refusals(registrations: list[dict[str, Any]], inputs: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """What AWS would refuse on an account whose API Gateway CloudWatch role is unset (every
    fresh one): a stage with access logs, unless it waits for an Account resource of this stack."""
    accounts = {r["urn"] for r in registrations if r["type"] == "aws:apigateway/account:Account"}
    return [
        f"{r['name']}: {CLOUDWATCH_ROLE_UNSET}"
        for r in registrations
        if r["type"] == "aws:apigatewayv2/stage:Stage"
        and inputs.get((r["type"], r["name"]), {}).get("accessLogSettings")
        and not accounts & set(r["dependencies"])
    ]


def _archive_names(archive: pulumi.Archive, prefix: str = "") -> list[str]:
    if isinstance(archive, pulumi.AssetArchive):
        names = []
        for name, item in archive.assets.items():
            if isinstance(item, pulumi.Archive):
                names += _archive_names(item, f"{prefix}{name}/")
            else:
                names.append(f"{prefix}{name}")
        return names
    if isinstance(archive, pulumi.FileArchive):
        root = Path(archive.path)
        return [prefix + p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    return []


def jsonable(value: Any) -> Any:
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        kind = type(value).__name__
        path = getattr(value, "path", None)
        files = sorted(_archive_names(value)) if isinstance(value, pulumi.Archive) else None
        return {"__asset__": kind, "path": path, "digest": packaging.archive_digest(value), "files": files}
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def stack_config(path: Path) -> dict[str, str]:
    """Pulumi.<stack>.yaml as the engine passes it: structured values as JSON strings."""
    values = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", required=True)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--build-root", required=True, type=Path)
    parser.add_argument(
        "--account-role-set",
        action="store_true",
        help="the account already has API Gateway's CloudWatch role (default: a fresh account)",
    )
    options = parser.parse_args(argv)

    packaging.BUILD_ROOT = options.build_root
    packaging.run_pip = fake_pip
    mocks = Mocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=options.stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(stack_config(options.config))

    exports: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]  # pulumi.runtime.test is untyped
    def run() -> pulumi.Output[Any]:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        # The mock root stack was finished before the program ran, so read the exports
        # from it rather than from a RegisterResourceOutputs call.
        root = pulumi.runtime.get_root_resource()
        return pulumi.Output.all(**getattr(root, "outputs", {})).apply(exports.update)

    run()
    refused = [] if options.account_role_set else logging_refusals(monitor.registrations, mocks.inputs)
    if refused:
        print("\n".join(refused), file=sys.stderr)
        return 1
    resources = [
        {**r, "inputs": jsonable(mocks.inputs.get((r["type"], r["name"]), {}))}
        for r in monitor.registrations
        if r["type"] != "pulumi:pulumi:Stack"
    ]
    options.out.write_text(json.dumps({"resources": resources, "outputs": jsonable(exports)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
