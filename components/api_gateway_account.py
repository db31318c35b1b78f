"""ApiGatewayAccount: the account-wide role API Gateway uses to write stage logs.

There is one such setting per account and region, so exactly one stack (or a one-time
manual setup) should own it; the stack config `createApiGatewayAccount` says which.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import policies

# AWS's managed policy for exactly this role; it is account-wide by nature (API Gateway
# writes to log groups it names itself), so it cannot be scoped to one API.
PUSH_TO_CLOUDWATCH_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


@dataclass(frozen=True)
class ApiGatewayAccountArgs:
    """Naming for the account-level API Gateway logging role."""

    prefix: str
    """Physical name prefix, e.g. `blog-analytics-prod`."""


class ApiGatewayAccount(pulumi.ComponentResource):
    """Sets the region's API Gateway CloudWatch role, which stage logging requires."""

    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ApiGatewayAccountArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("blog-analytics:index:ApiGatewayAccount", name, None, opts)
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=policies.assume_role_policy("apigateway.amazonaws.com"),
            description=f"API Gateway account logging role (set by {args.prefix})",
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-push-logs",
            role=role.name,
            policy_arn=PUSH_TO_CLOUDWATCH_POLICY,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.apigateway.Account(
            f"{name}-settings",
            cloudwatch_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
        )
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})
