"""CountStore: the count tables, and the stream that copies the writer table into the reader."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.function import HandlerFunction, HandlerFunctionArgs, HandlerRuntime
from components.queues import MAX_RETENTION_SECONDS, REPORT_BATCH_ITEM_FAILURES, redrive_policy, visibility_timeout
from handlers.wiring import RepairSpec, StreamSpec, TableSpec, Wiring, physical_table_name, queue_name

# Where a new stream mapping starts; TRIM_HORIZON loses nothing if it is ever recreated.
STARTING_POSITION = "TRIM_HORIZON"


@dataclass(frozen=True)
class CountStoreArgs:
    """The tables and stream consumers of the wiring table, for one stack."""

    wiring: Wiring
    """Tables to create and streams to wire."""
    runtime: HandlerRuntime
    """Shared function runtime, for the stream consumers."""
    protect: bool = False
    """Deletion protection, point-in-time recovery and Pulumi `protect` (prod)."""


class CountStore(pulumi.ComponentResource):
    """DynamoDB tables named `<stack>-<Name>`, plus each stream's consumer."""

    table_names: pulumi.Output[dict[str, str]]
    table_arns: pulumi.Output[dict[str, str]]
    failure_queue_urls: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: CountStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("blog-analytics:index:CountStore", name, None, opts)
        self._base = name
        self.tables = {spec.name: self._create_table(spec, args) for spec in args.wiring.tables}
        self.table_names = pulumi.Output.all(**{k: t.name for k, t in self.tables.items()})
        self.table_arns = pulumi.Output.all(**{k: t.arn for k, t in self.tables.items()})
        failure_queues = {
            f"{spec.table}-{spec.function}": self._create_stream_consumer(spec, args) for spec in args.wiring.streams
        }
        self.failure_queue_urls = pulumi.Output.all(**{k: q.url for k, q in failure_queues.items()})
        self.register_outputs(
            {
                "table_names": self.table_names,
                "table_arns": self.table_arns,
                "failure_queue_urls": self.failure_queue_urls,
            }
        )

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
            stream_view_type="NEW_IMAGE" if spec.stream else None,
            ttl=(
                aws.dynamodb.TableTtlArgs(attribute_name=spec.ttl_attribute, enabled=True)
                if spec.ttl_attribute
                else None
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )

    def _create_stream_consumer(self, spec: StreamSpec, args: CountStoreArgs) -> aws.sqs.Queue:
        base = f"{self._base}-{spec.table}-{spec.function}"
        table = self.tables[spec.table]
        failures = self._create_failure_queue(base, spec, args)
        consumer = HandlerFunction(
            f"{self._base}-{spec.function}",
            HandlerFunctionArgs(
                spec=args.wiring.function(spec.function),
                wiring=args.wiring,
                runtime=args.runtime,
                table_arns=self.table_arns,
                stream_arns={spec.table: table.stream_arn},
                failure_queue_arns={spec.failure_queue: failures.arn},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Stream retries and record age default to unlimited: one bad record would block
        # its shard for a day. Bound both, bisect to isolate it, and park it in the queue.
        aws.lambda_.EventSourceMapping(
            f"{base}-mapping",
            event_source_arn=table.stream_arn,
            function_name=consumer.function_arn,
            starting_position=STARTING_POSITION,
            batch_size=spec.batch_size,
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=spec.maximum_retry_attempts,
            maximum_record_age_in_seconds=spec.maximum_record_age_seconds,
            function_response_types=[REPORT_BATCH_ITEM_FAILURES],
            destination_config=aws.lambda_.EventSourceMappingDestinationConfigArgs(
                on_failure=aws.lambda_.EventSourceMappingDestinationConfigOnFailureArgs(destination_arn=failures.arn),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[consumer.role_policy]),
        )
        if spec.repair is not None:
            self._create_repair(base, spec, spec.repair, failures, table, args)
        return failures

    def _create_failure_queue(self, base: str, spec: StreamSpec, args: CountStoreArgs) -> aws.sqs.Queue:
        """The mapping's on-failure queue; with a repair consumer it gets that consumer's
        visibility timeout and its own DLQ, so a repair that keeps failing is kept, not lost."""
        child = pulumi.ResourceOptions(parent=self)
        repair = spec.repair
        dlq = (
            None
            if repair is None
            else aws.sqs.Queue(
                f"{base}-failures-dlq",
                name=queue_name(args.runtime.prefix, spec.failure_queue, dlq=True),
                sqs_managed_sse_enabled=True,
                message_retention_seconds=MAX_RETENTION_SECONDS,
                opts=child,
            )
        )
        return aws.sqs.Queue(
            f"{base}-failures",
            name=queue_name(args.runtime.prefix, spec.failure_queue),
            sqs_managed_sse_enabled=True,
            message_retention_seconds=MAX_RETENTION_SECONDS,
            visibility_timeout_seconds=(
                None if repair is None else visibility_timeout(args.wiring.function(repair.function).timeout_seconds)
            ),
            redrive_policy=(
                None
                if repair is None or dlq is None
                else dlq.arn.apply(lambda arn: redrive_policy(arn, repair.max_receive_count))
            ),
            opts=child,
        )

    def _create_repair(
        self,
        base: str,
        spec: StreamSpec,
        repair: RepairSpec,
        failures: aws.sqs.Queue,
        table: aws.dynamodb.Table,
        args: CountStoreArgs,
    ) -> None:
        """The on-failure queue's consumer: re-reads the skipped range from the stream."""
        consumer = HandlerFunction(
            f"{self._base}-{repair.function}",
            HandlerFunctionArgs(
                spec=args.wiring.function(repair.function),
                wiring=args.wiring,
                runtime=args.runtime,
                table_arns=self.table_arns,
                stream_arns={spec.table: table.stream_arn},
                failure_queue_arns={spec.failure_queue: failures.arn},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.lambda_.EventSourceMapping(
            f"{base}-failures-mapping",
            event_source_arn=failures.arn,
            function_name=consumer.function_arn,
            batch_size=repair.batch_size,
            function_response_types=[REPORT_BATCH_ITEM_FAILURES],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[consumer.role_policy]),
        )
