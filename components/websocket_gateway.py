"""WebSocketGateway: the WebSocket API, a Lambda per route, and a throttled, logged stage."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import Throttling
from components.function import HandlerFunction, HandlerFunctionArgs, HandlerRuntime
from components.policies import connections_resource_arn
from handlers.wiring import RouteSpec, Wiring

# Access log fields. Deliberately absent: $context.identity.sourceIp, user agent and
# $context.connectionId (nothing that identifies a reader is stored, in logs either).
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTimeEpoch": "$context.requestTimeEpoch",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "error": "$context.error.message",
}
ACCESS_LOG_FORMAT = json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))
APIGATEWAY_PRINCIPAL = "apigateway.amazonaws.com"


@dataclass(frozen=True)
class WebSocketGatewayArgs:
    """The routes of the wiring table and the stage settings of one stack."""

    wiring: Wiring
    """Routes, route selection expression and the route functions' specs."""
    runtime: HandlerRuntime
    """Shared function runtime (with the topic ARN in its env)."""
    table_arns: pulumi.Input[Mapping[str, str]]
    """Logical table name -> ARN, for the route functions' table grants."""
    topic_arn: pulumi.Input[str]
    """The view-event topic, for functions that publish."""
    throttling: Throttling
    """Stage-wide burst and rate limits."""
    access_logs: bool = False
    """Write stage access logs; API Gateway refuses them until the account's CloudWatch role is set."""
    stage_depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """E.g. the account's API Gateway CloudWatch role, which stage logging requires."""


def redeployment_hash(routes: Sequence[Mapping[str, Any]]) -> str:
    """Pure: changes whenever a route, its integration or its route response changes."""
    canonical = json.dumps(sorted(routes, key=lambda r: str(r.get("routeKey"))), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def console_url(execution_arn: str, stage: str) -> str:
    """Pure: the AWS console's page of this API's stage (an https link for the GitHub deployment;
    GitHub shows no link for the wss:// URL). The region comes from the execute-api ARN."""
    _, _, _, region, _, api_id = execution_arn.split(":", 5)
    return f"https://{region}.console.aws.amazon.com/apigateway/main/apis/{api_id}/stages?api={api_id}&region={region}"


def management_endpoint(execution_arn: str, stage: str) -> str:
    """Pure: where PostToConnection goes, `https://<api-id>.execute-api.<region>.amazonaws.com/<stage>`."""
    _, _, _, region, _, api_id = execution_arn.split(":", 5)
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"


def invoke_source_arn(execution_arn: str) -> str:
    """Any stage and route of this one API (execute-api ARN: <api>/<stage>/<route>)."""
    return f"{execution_arn}/*/*"


class WebSocketGateway(pulumi.ComponentResource):
    """API Gateway v2 WebSocket API routing frames by `message` to Lambda integrations."""

    api_id: pulumi.Output[str]
    url: pulumi.Output[str]
    console_url: pulumi.Output[str]
    stage_name: pulumi.Output[str]
    management_endpoint: pulumi.Output[str]
    """The @connections API of the stage (live pushes)."""
    connections_arn: pulumi.Output[str]
    """The stage's `POST/@connections/*` resource, for execute-api:ManageConnections."""
    access_log_group_name: pulumi.Output[str] | None

    def __init__(self, name: str, args: WebSocketGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("blog-analytics:index:WebSocketGateway", name, None, opts)
        self._base = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        api = aws.apigatewayv2.Api(
            f"{name}-api",
            name=f"{args.runtime.prefix}-websocket",
            protocol_type="WEBSOCKET",
            route_selection_expression=args.wiring.route_selection_expression,
            opts=child,
        )
        functions = self._create_functions(api)
        routes = [self._create_route(api, spec, functions[spec.function]) for spec in args.wiring.routes]
        deployment = aws.apigatewayv2.Deployment(
            f"{name}-deployment",
            api_id=api.id,
            description=f"{args.runtime.prefix} routes",
            triggers={"redeployment": pulumi.Output.all(*[r.fingerprint for r in routes]).apply(redeployment_hash)},
            # The API must hold every route and route response before it is snapshotted.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[r for route in routes for r in route.resources]),
        )
        access_logs = (
            aws.cloudwatch.LogGroup(
                f"{name}-access-logs",
                name=f"/aws/apigateway/{args.runtime.prefix}-websocket",
                retention_in_days=args.runtime.log_retention_days,
                opts=child,
            )
            if args.access_logs
            else None
        )
        stage = self._create_stage(api, deployment, access_logs)
        self.api_id = api.id
        self.url = stage.invoke_url
        self.console_url = pulumi.Output.all(api.execution_arn, stage.name).apply(lambda a: console_url(*a))
        self.stage_name = stage.name
        self.management_endpoint = pulumi.Output.all(api.execution_arn, stage.name).apply(
            lambda a: management_endpoint(*a)
        )
        self.connections_arn = pulumi.Output.all(api.execution_arn, stage.name).apply(
            lambda a: connections_resource_arn(*a)
        )
        self.access_log_group_name = access_logs.name if access_logs else None
        self.register_outputs(
            {
                "api_id": self.api_id,
                "url": self.url,
                "console_url": self.console_url,
                "stage_name": self.stage_name,
                "management_endpoint": self.management_endpoint,
                "connections_arn": self.connections_arn,
                "access_log_group_name": self.access_log_group_name,
            }
        )

    def _create_functions(self, api: aws.apigatewayv2.Api) -> dict[str, HandlerFunction]:
        functions = {}
        for function_name in sorted({route.function for route in self._args.wiring.routes}):
            function = HandlerFunction(
                f"{self._base}-{function_name}",
                HandlerFunctionArgs(
                    spec=self._args.wiring.function(function_name),
                    wiring=self._args.wiring,
                    runtime=self._args.runtime,
                    table_arns=self._args.table_arns,
                    topic_arn=self._args.topic_arn,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.lambda_.Permission(
                f"{self._base}-{function_name}-invoke",
                function=function.function_name,
                action="lambda:InvokeFunction",
                principal=APIGATEWAY_PRINCIPAL,
                source_arn=api.execution_arn.apply(invoke_source_arn),
                opts=pulumi.ResourceOptions(parent=self),
            )
            functions[function_name] = function
        return functions

    def _create_route(self, api: aws.apigatewayv2.Api, spec: RouteSpec, function: HandlerFunction) -> _Route:
        # "$connect" -> "connect": resource names stay readable and free of "$".
        base = f"{self._base}-{spec.route_key.lstrip('$')}"
        child = pulumi.ResourceOptions(parent=self)
        integration = aws.apigatewayv2.Integration(
            f"{base}-integration",
            api_id=api.id,
            integration_type="AWS_PROXY",
            integration_method="POST",
            integration_uri=function.invoke_arn,
            opts=child,
        )
        # A Lambda's return value reaches the client only through a $default route response.
        route = aws.apigatewayv2.Route(
            f"{base}-route",
            api_id=api.id,
            route_key=spec.route_key,
            target=integration.id.apply(lambda i: f"integrations/{i}"),
            route_response_selection_expression="$default" if spec.replies else None,
            opts=child,
        )
        response = (
            aws.apigatewayv2.RouteResponse(
                f"{base}-response",
                api_id=api.id,
                route_id=route.id,
                route_response_key="$default",
                opts=child,
            )
            if spec.replies
            else None
        )
        fingerprint = pulumi.Output.all(
            routeKey=spec.route_key,
            route=route.id,
            integration=integration.id,
            integrationUri=function.invoke_arn,
            replies=spec.replies,
            response=response.id if response else None,
        )
        return _Route(route, response, fingerprint)

    def _create_stage(
        self,
        api: aws.apigatewayv2.Api,
        deployment: aws.apigatewayv2.Deployment,
        access_logs: aws.cloudwatch.LogGroup | None,
    ) -> aws.apigatewayv2.Stage:
        runtime = self._args.runtime
        return aws.apigatewayv2.Stage(
            f"{self._base}-stage",
            api_id=api.id,
            name=runtime.stack,
            deployment_id=deployment.id,
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_burst_limit=self._args.throttling.burst_limit,
                throttling_rate_limit=self._args.throttling.rate_limit,
                # Execution logs would record connection ids and payloads; access logs suffice.
                logging_level="OFF",
                data_trace_enabled=False,
            ),
            # Off unless asked for: on an account whose API Gateway CloudWatch role is unset
            # (every fresh one), AWS refuses the stage ("CloudWatch Logs role ARN must be set
            # in account settings to enable logging").
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=access_logs.arn,
                format=ACCESS_LOG_FORMAT,
            )
            if access_logs
            else None,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self._args.stage_depends_on)),
        )


@dataclass(frozen=True)
class _Route:
    resource: aws.apigatewayv2.Route
    response: aws.apigatewayv2.RouteResponse | None
    fingerprint: pulumi.Output[Any]

    @property
    def resources(self) -> list[pulumi.Resource]:
        return [self.resource] + ([self.response] if self.response else [])
