"""HandlerFunction: one Lambda of the wiring table, its least-privilege role and its log group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pulumi
import pulumi_aws as aws

from components import lambda_logging, policies
from components.packaging import LAYER_ARCHITECTURE, LAYER_RUNTIME
from handlers.wiring import ENV_ENDPOINT_URL, ENV_STACK, FunctionSpec, Wiring, function_name

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
    """One function spec, and the ARNs of what the stack has; the wiring table picks its grants.

    Give every ARN of its kind that this caller knows: which of them the function may
    touch is decided by policies.function_statements, never by which fields are filled.
    """

    spec: FunctionSpec
    """The wiring table's function: module, env names, table grants, sizing."""
    wiring: Wiring
    """Where the function is plugged in (the queues and streams that name it)."""
    runtime: HandlerRuntime
    """Shared code, layer, stack name and environment values."""
    table_arns: pulumi.Input[Mapping[str, str]] = field(default_factory=dict)
    """Logical table name -> ARN."""
    topic_arn: pulumi.Input[str] | None = None
    """The view-event topic."""
    queue_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """QueueSpec.name -> ARN."""
    stream_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Logical table name -> its stream's ARN."""
    failure_queue_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """StreamSpec.failure_queue -> ARN."""
    alert_topic_arn: pulumi.Input[str] | None = None
    """The owner's alert topic, when the stack has one."""
    connections_arn: pulumi.Input[str] | None = None
    """This stage's `@connections` resource, for functions that push."""


def function_environment(spec: FunctionSpec, runtime: HandlerRuntime) -> dict[str, pulumi.Input[str]]:
    """ENV_STACK plus exactly the variables the spec names; never the local-only endpoint."""
    if ENV_ENDPOINT_URL in spec.env:
        raise ValueError(f"function {spec.name}: {ENV_ENDPOINT_URL} is for the local stack only")
    missing = [name for name in spec.env if name not in runtime.env]
    if missing:
        raise ValueError(f"function {spec.name}: no value for environment variable(s) {missing}")
    return {ENV_STACK: runtime.stack, **{name: runtime.env[name] for name in spec.env}}


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
        physical_name = function_name(args.runtime.prefix, spec.name)
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
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format=lambda_logging.LOG_FORMAT,
                system_log_level=lambda_logging.SYSTEM_LOG_LEVEL,
                application_log_level=lambda_logging.APPLICATION_LOG_LEVEL,
                log_group=log_group.name,
            ),
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
        # Plain dicts of Outputs resolve deeply, like the tables' Output.
        resolved = pulumi.Output.all(
            log_group=log_group_arn,
            tables=args.table_arns,
            topic=args.topic_arn,
            queues=dict(args.queue_arns),
            streams=dict(args.stream_arns),
            failure_queues=dict(args.failure_queue_arns),
            alert_topic=args.alert_topic_arn,
            connections=args.connections_arn,
        )
        return resolved.apply(
            lambda arns: policies.document(
                policies.function_statements(args.spec, args.wiring, policies.StackArns(**arns))
            )
        )
