"""CountStore: the tables of the wiring table, and the ARNs of their streams."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.function import HandlerRuntime
from handlers.wiring import TableSpec, Wiring, physical_table_name


@dataclass(frozen=True)
class CountStoreArgs:
    """The tables of the wiring table, for one stack."""

    wiring: Wiring
    """Tables to create."""
    runtime: HandlerRuntime
    """The stack's names (its stream consumers are StreamConsumers')."""
    protect: bool = False
    """Deletion protection, point-in-time recovery and Pulumi `protect` (prod)."""


class CountStore(pulumi.ComponentResource):
    """DynamoDB tables named `<stack>-<Name>`."""

    table_names: pulumi.Output[dict[str, str]]
    table_arns: pulumi.Output[dict[str, str]]
    stream_arns: dict[str, pulumi.Output[str]]
    """Logical name -> stream ARN, for the tables with a stream."""

    def __init__(self, name: str, args: CountStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("blog-analytics:index:CountStore", name, None, opts)
        self._base = name
        self.tables = {spec.name: self._create_table(spec, args) for spec in args.wiring.tables}
        self.table_names = pulumi.Output.all(**{k: t.name for k, t in self.tables.items()})
        self.table_arns = pulumi.Output.all(**{k: t.arn for k, t in self.tables.items()})
        self.stream_arns = {spec.name: self.tables[spec.name].stream_arn for spec in args.wiring.tables if spec.stream}
        self.register_outputs({"table_names": self.table_names, "table_arns": self.table_arns})

    def _create_table(self, spec: TableSpec, args: CountStoreArgs) -> aws.dynamodb.Table:
        keys = [spec.hash_key] + ([spec.range_key] if spec.range_key else [])
        return aws.dynamodb.Table(
            f"{self._base}-{spec.name}",
            name=physical_table_name(args.runtime.stack, spec.name),
            billing_mode="PAY_PER_REQUEST",
            hash_key=spec.hash_key,
            range_key=spec.range_key,
            attributes=[aws.dynamodb.TableAttributeArgs(name=key, type="S") for key in keys],
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=args.protect),
            deletion_protection_enabled=args.protect,
            stream_enabled=spec.stream,
            stream_view_type=spec.stream_view if spec.stream else None,
            ttl=(
                aws.dynamodb.TableTtlArgs(attribute_name=spec.ttl_attribute, enabled=True)
                if spec.ttl_attribute
                else None
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
