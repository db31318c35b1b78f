"""The resource graph written by run_program.py, with lookups the tests read naturally."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

TABLE = "aws:dynamodb/table:Table"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
FUNCTION = "aws:lambda/function:Function"
LAYER = "aws:lambda/layerVersion:LayerVersion"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
PERMISSION = "aws:lambda/permission:Permission"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
API = "aws:apigatewayv2/api:Api"
ROUTE = "aws:apigatewayv2/route:Route"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
ROUTE_RESPONSE = "aws:apigatewayv2/routeResponse:RouteResponse"
DEPLOYMENT = "aws:apigatewayv2/deployment:Deployment"
STAGE = "aws:apigatewayv2/stage:Stage"
ACCOUNT = "aws:apigateway/account:Account"


# How Pulumi serialises a secret value: the mocks see {SECRET_SIG_KEY: SECRET_SIG, "value": v}.
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def unwrap_secrets(value: Any) -> tuple[Any, bool]:
    """The value with every secret wrapper removed, and whether there was one."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG:
            return unwrap_secrets(value.get("value"))[0], True
        pairs = {k: unwrap_secrets(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(secret for _, secret in pairs.values())
    if isinstance(value, list):
        items = [unwrap_secrets(v) for v in value]
        return [v for v, _ in items], any(secret for _, secret in items)
    return value, False


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    urn: str
    parent: str
    dependencies: list[str]
    protect: bool
    custom: bool
    inputs: dict[str, Any]
    secret_inputs: tuple[str, ...] = ()
    """Top-level inputs that held a Pulumi secret (unwrapped in `inputs`)."""

    def __getitem__(self, key: str) -> Any:
        return self.inputs[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.inputs.get(key, default)


@dataclass(frozen=True)
class StackGraph:
    resources: list[Resource]
    outputs: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> StackGraph:
        data = json.loads(path.read_text())
        resources = []
        for r in data["resources"]:
            unwrapped = {key: unwrap_secrets(value) for key, value in r["inputs"].items()}
            inputs = {key: value for key, (value, _) in unwrapped.items()}
            secret = tuple(key for key, (_, was_secret) in unwrapped.items() if was_secret)
            resources.append(Resource(**{**r, "inputs": inputs, "secret_inputs": secret}))
        return cls(resources, data["outputs"])

    def of_type(self, typ: str) -> list[Resource]:
        return [r for r in self.resources if r.type == typ]

    def by_urn(self, urn: str) -> Resource:
        return next(r for r in self.resources if r.urn == urn)

    def where(self, typ: str, **inputs: Any) -> Resource:
        """The one resource of a type whose inputs hold these values."""
        found = [r for r in self.of_type(typ) if all(r.get(k) == v for k, v in inputs.items())]
        assert len(found) == 1, f"expected one {typ} with {inputs}, found {len(found)}"
        return found[0]

    def function(self, spec_name: str) -> Resource:
        return next(f for f in self.of_type(FUNCTION) if f["name"].endswith(f"-{spec_name}"))

    def children_of(self, urn: str) -> list[Resource]:
        return [r for r in self.resources if r.parent == urn]

    def sibling(self, resource: Resource, typ: str) -> Resource:
        """The one resource of a type under the same parent (e.g. a function's role policy)."""
        found = [r for r in self.children_of(resource.parent) if r.type == typ]
        assert len(found) == 1, f"expected one {typ} beside {resource.name}, found {len(found)}"
        return found[0]

    def statements(self, function: Resource) -> list[dict[str, Any]]:
        """The inline policy statements of a function's role."""
        document = json.loads(self.sibling(function, ROLE_POLICY)["policy"])
        return list(document["Statement"])


RunStack = Callable[..., StackGraph]
"""run_stack(stack, config_file=None, account_role_set=False): the program's graph for that
stack, on a fresh account unless account_role_set (conftest fixture)."""


class ProgramFailed(AssertionError):
    """The program exited non-zero; the message carries its stderr."""


METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
