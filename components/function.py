"""HandlerFunction: one Lambda of the wiring table, its least-privilege role and its log group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pulumi
import pulumi_aws as aws

from components import policies
from components.packaging import LAYER_ARCHITECTURE, LAYER_RUNTIME
from handlers.wiring import ENV_ENDPOINT_URL, ENV_STACK, FunctionSpec

LAMBDA_PRINCIPAL = "lambda.amazonaws.com"


@dataclass(frozen=True)
class HandlerRuntime:
    """What every handler function of a stack shares."""

    stack: str
    """The stack name; handlers derive table names from it (ENV_STACK)."""
    prefix: str
    """Physical name prefix, e.g. `blog-analytics-stage`."""
    code: pulumi.Archive
    """The handlers' code archive."""
    layer_arn: pulumi.Input[str]
    """The dependency layer."""
    log_retention_days: int
    """Retention of each function's log group."""
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Values of the ENV_* variables a function may ask for (besides ENV_STACK)."""

    def with_env(self, **values: pulumi.Input[str]) -> HandlerRuntime:
        """The same runtime with more environment values known (e.g. the topic ARN)."""
        return replace(self, env={**self.env, **values})


@dataclass(frozen=True)
class HandlerFunctionArgs:
    """One function spec and the ARNs of what it is allowed to touch."""

    spec: FunctionSpec
    """The wiring table's function: module, env names, table grants, sizing."""
    runtime: HandlerRuntime
    """Shared code, layer, stack name and environment values."""
    table_arns: pulumi.Input[Mapping[str, str]] = field(default_factory=dict)
    """Logical table name -> ARN, for the spec's table grants."""
    topic_arn: pulumi.Input[str] | None = None
    """The view-event topic; required when spec.publishes."""
    consumes_queue_arns: Sequence[pulumi.Input[str]] = ()
    """SQS queues an event source mapping feeds this function from."""
    reads_stream_arn: pulumi.Input[str] | None = None
    """A DynamoDB stream an event source mapping feeds this function from."""
    sends_to_queue_arn: pulumi.Input[str] | None = None
    """The stream mapping's on-failure queue (written with this function's role)."""
    rereads_stream_arn: pulumi.Input[str] | None = None
    """A DynamoDB stream this function reads records from by position, with no mapping (repair)."""


def function_environment(spec: FunctionSpec, runtime: HandlerRuntime) -> dict[str, pulumi.Input[str]]:
    """ENV_STACK plus exactly the variables the spec names; never the local-only endpoint."""
    if ENV_ENDPOINT_URL in spec.env:
        raise ValueError(f"function {spec.name}: {ENV_ENDPOINT_URL} is for the local stack only")
    missing = [name for name in spec.env if name not in runtime.env]
    if missing:
        raise ValueError(f"function {spec.name}: no value for environment variable(s) {missing}")
    return {ENV_STACK: runtime.stack, **{name: runtime.env[name] for name in spec.env}}


def function_statements(spec: FunctionSpec, arns: Mapping[str, Any]) -> list[policies.Statement]:
    """Pure: the role's statements from the spec and the resolved ARNs."""
    statements = [policies.write_logs_statement(arns["log_group"])]
    statements += policies.table_statements(spec.tables, arns["tables"])
    if spec.publishes:
        if not arns.get("topic"):
            raise ValueError(f"function {spec.name} publishes but was given no topic ARN")
        statements.append(policies.publish_statement(arns["topic"]))
    if arns.get("queues"):
        statements.append(policies.consume_queues_statement(arns["queues"]))
    if arns.get("stream"):
        statements.append(policies.read_stream_statement(arns["stream"]))
    if arns.get("failure_queue"):
        statements.append(policies.send_to_queue_statement(arns["failure_queue"]))
    if arns.get("reread_stream"):
        statements.append(policies.reread_stream_statement(arns["reread_stream"]))
    return statements


class HandlerFunction(pulumi.ComponentResource):
    """A python3.12/arm64 Lambda running `<module>.handler` with only the access its spec names."""

    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    invoke_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: HandlerFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("blog-analytics:index:HandlerFunction", name, None, opts)
        spec = args.spec
        physical_name = f"{args.runtime.prefix}-{spec.name}"
        child = pulumi.ResourceOptions(parent=self)

        # Created before the function so Lambda never makes one without retention.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{physical_name}",
            retention_in_days=args.runtime.log_retention_days,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=policies.assume_role_policy(LAMBDA_PRINCIPAL),
            description=f"{physical_name}: only what the wiring table grants",
            opts=child,
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=self._policy(args, log_group.arn),
            opts=child,
        )
        function = aws.lambda_.Function(
            f"{name}-function",
            name=physical_name,
            runtime=LAYER_RUNTIME,
            architectures=[LAYER_ARCHITECTURE],
            handler=f"{spec.module}.handler",
            code=args.runtime.code,
            layers=[args.runtime.layer_arn],
            role=role.arn,
            memory_size=spec.memory_mb,
            timeout=spec.timeout_seconds,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=function_environment(spec, args.runtime)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, self.role_policy]),
        )
        self.function_name = function.name
        self.function_arn = function.arn
        self.invoke_arn = function.invoke_arn
        self.role_arn = role.arn
        self.log_group_name = log_group.name
        self.register_outputs(
            {
                "function_name": self.function_name,
                "function_arn": self.function_arn,
                "invoke_arn": self.invoke_arn,
                "role_arn": self.role_arn,
                "log_group_name": self.log_group_name,
            }
        )

    @staticmethod
    def _policy(args: HandlerFunctionArgs, log_group_arn: pulumi.Output[str]) -> pulumi.Output[str]:
        arns = pulumi.Output.all(
            log_group=log_group_arn,
            tables=args.table_arns,
            topic=args.topic_arn,
            queues=pulumi.Output.all(*args.consumes_queue_arns),
            stream=args.reads_stream_arn,
            failure_queue=args.sends_to_queue_arn,
            reread_stream=args.rereads_stream_arn,
        )
        return arns.apply(lambda resolved: policies.document(function_statements(args.spec, resolved)))
