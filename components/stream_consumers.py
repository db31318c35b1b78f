"""StreamConsumers: the functions that read the count tables' streams, and their failure queues.

Built beside the other functions (the bus builds the counters, the gateway the route
functions), not inside the tables' component: a table outlives the code that reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.function import HandlerFunction, HandlerFunctionArgs, HandlerRuntime
from components.queues import MAX_RETENTION_SECONDS, REPORT_BATCH_ITEM_FAILURES, redrive_policy, visibility_timeout
from handlers.wiring import LIVE_FUNCTIONS, RepairSpec, StreamSpec, Wiring, queue_name

# Where a new stream mapping starts; TRIM_HORIZON loses nothing if it is ever recreated.
STARTING_POSITION = "TRIM_HORIZON"
LIVE_STARTING_POSITION = "LATEST"
"""The live fan-out's mappings are made again when live counts come back on (0 -> 2): a push
is about now, and replaying up to 24 h of records would only send them, past their
60 s maximum record age, to the on-failure queues and the owner's alarms."""


def starting_position(spec: StreamSpec) -> str:
    return LIVE_STARTING_POSITION if spec.function in LIVE_FUNCTIONS else STARTING_POSITION


@dataclass(frozen=True)
class StreamConsumersArgs:
    """The wiring table's streams, and the tables they come from."""

    wiring: Wiring
    """Which function reads which table's stream, and who repairs what it skips."""
    runtime: HandlerRuntime
    """Shared function runtime."""
    table_arns: pulumi.Input[Mapping[str, str]]
    """Logical table name -> ARN, for the functions' table grants."""
    stream_arns: Mapping[str, pulumi.Input[str]]
    """Logical table name -> its stream's ARN (CountStore.stream_arns)."""
    alert_topic_arn: pulumi.Input[str] | None = None
    """The owner's alert topic (OwnerAlerts), for the functions that may alert; None: no alerts."""
    connections_arn: pulumi.Input[str] | None = None
    """This stage's `@connections` resource, for the live fan-out's pushes."""


class StreamConsumers(pulumi.ComponentResource):
    """Each stream's consumer with bounded retries and an on-failure queue, and its repair."""

    failure_queue_urls: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: StreamConsumersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("blog-analytics:index:StreamConsumers", name, None, opts)
        self._base = name
        failure_queues = {
            f"{spec.table}-{spec.function}": self._create_consumer(spec, args) for spec in args.wiring.streams
        }
        self.failure_queue_urls = pulumi.Output.all(**{k: q.url for k, q in failure_queues.items()})
        self.register_outputs({"failure_queue_urls": self.failure_queue_urls})

    def _create_consumer(self, spec: StreamSpec, args: StreamConsumersArgs) -> aws.sqs.Queue:
        base = f"{self._base}-{spec.table}-{spec.function}"
        stream_arn = args.stream_arns[spec.table]
        failures = self._create_failure_queue(base, spec, args)
        consumer = self._create_function(spec.function, spec, stream_arn, failures, args)
        # Stream retries and record age default to unlimited: one bad record would block
        # its shard for a day. Bound both, bisect to isolate it, and park it in the queue.
        aws.lambda_.EventSourceMapping(
            f"{base}-mapping",
            event_source_arn=stream_arn,
            function_name=consumer.function_arn,
            starting_position=starting_position(spec),
            batch_size=spec.batch_size,
            # Fewer Series writes, and the live fan-out's coalescing (one push per target per
            # liveIntervalSeconds). Unset rather than 0 when the wiring table asks for none, so
            # no mapping shows a diff.
            maximum_batching_window_in_seconds=spec.maximum_batching_window_seconds or None,
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
            self._create_repair(base, spec, spec.repair, failures, stream_arn, args)
        return failures

    def _create_failure_queue(self, base: str, spec: StreamSpec, args: StreamConsumersArgs) -> aws.sqs.Queue:
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
        stream_arn: pulumi.Input[str],
        args: StreamConsumersArgs,
    ) -> None:
        """The on-failure queue's consumer: re-reads the skipped range from the stream."""
        consumer = self._create_function(repair.function, spec, stream_arn, failures, args)
        aws.lambda_.EventSourceMapping(
            f"{base}-failures-mapping",
            event_source_arn=failures.arn,
            function_name=consumer.function_arn,
            batch_size=repair.batch_size,
            function_response_types=[REPORT_BATCH_ITEM_FAILURES],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[consumer.role_policy]),
        )

    def _create_function(
        self,
        function: str,
        spec: StreamSpec,
        stream_arn: pulumi.Input[str],
        failures: aws.sqs.Queue,
        args: StreamConsumersArgs,
    ) -> HandlerFunction:
        """A function of this stream; the wiring table decides which of its ARNs it may use."""
        return HandlerFunction(
            f"{self._base}-{function}",
            HandlerFunctionArgs(
                spec=args.wiring.function(function),
                wiring=args.wiring,
                runtime=args.runtime,
                table_arns=args.table_arns,
                stream_arns={spec.table: stream_arn},
                failure_queue_arns={spec.failure_queue: failures.arn},
                alert_topic_arn=args.alert_topic_arn,
                connections_arn=args.connections_arn,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
