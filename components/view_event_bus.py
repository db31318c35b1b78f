"""ViewEventBus: the view-event topic, one filtered queue per consumer, and the consumers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import policies
from components.config import Batching
from components.function import HandlerFunction, HandlerFunctionArgs, HandlerRuntime
from components.queues import MAX_RETENTION_SECONDS, REPORT_BATCH_ITEM_FAILURES, redrive_policy, visibility_timeout
from handlers.wiring import QueueSpec, Wiring, queue_name, topic_name

# SNS encrypts with the AWS-managed key: no key policy to maintain, and SNS -> SQS
# (SSE-SQS) and the publishers need no extra KMS grants.
TOPIC_KMS_KEY = "alias/aws/sns"


@dataclass(frozen=True)
class ViewEventBusArgs:
    """The queues of the wiring table and how their consumers are fed."""

    wiring: Wiring
    """Queues (filter policies, consumers, redrive) and the consumers' function specs."""
    runtime: HandlerRuntime
    """Shared function runtime."""
    table_arns: pulumi.Input[Mapping[str, str]]
    """Logical table name -> ARN, for the consumers' table grants."""
    batching: Batching
    """Batch size, window and maximum concurrency from the stack config."""


class ViewEventBus(pulumi.ComponentResource):
    """SNS topic -> (filter on a message attribute, raw delivery) -> SQS + DLQ -> counter Lambda."""

    topic_arn: pulumi.Output[str]
    queue_urls: pulumi.Output[dict[str, str]]
    dead_letter_queue_urls: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: ViewEventBusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("blog-analytics:index:ViewEventBus", name, None, opts)
        self._base = name
        self._args = args
        topic = aws.sns.Topic(
            f"{name}-topic",
            name=topic_name(args.runtime.prefix),
            kms_master_key_id=TOPIC_KMS_KEY,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.topic_arn = topic.arn
        queues = {spec.name: self._create_queue(spec, topic) for spec in args.wiring.queues}
        for function_name in sorted({spec.function for spec in args.wiring.queues}):
            self._create_consumer(function_name, [q for q in args.wiring.queues if q.function == function_name], queues)
        self.queue_urls = pulumi.Output.all(**{k: q.url for k, (q, _) in queues.items()})
        self.dead_letter_queue_urls = pulumi.Output.all(**{k: d.url for k, (_, d) in queues.items()})
        self.register_outputs(
            {
                "topic_arn": self.topic_arn,
                "queue_urls": self.queue_urls,
                "dead_letter_queue_urls": self.dead_letter_queue_urls,
            }
        )

    def _create_queue(self, spec: QueueSpec, topic: aws.sns.Topic) -> tuple[aws.sqs.Queue, aws.sqs.Queue]:
        base = f"{self._base}-{spec.name}"
        prefix = self._args.runtime.prefix
        child = pulumi.ResourceOptions(parent=self)
        consumer = self._args.wiring.function(spec.function)
        dlq = aws.sqs.Queue(
            f"{base}-dlq",
            name=queue_name(prefix, spec.name, dlq=True),
            sqs_managed_sse_enabled=True,
            message_retention_seconds=MAX_RETENTION_SECONDS,
            opts=child,
        )
        queue = aws.sqs.Queue(
            f"{base}-queue",
            name=queue_name(prefix, spec.name),
            sqs_managed_sse_enabled=True,
            visibility_timeout_seconds=visibility_timeout(consumer.timeout_seconds),
            redrive_policy=dlq.arn.apply(lambda arn: redrive_policy(arn, spec.max_receive_count)),
            opts=child,
        )
        queue_policy = aws.sqs.QueuePolicy(
            f"{base}-policy",
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, topic.arn).apply(lambda a: policies.queue_policy(a[0], a[1])),
            opts=child,
        )
        # Raw delivery keeps the message body as published and the attributes as SQS
        # message attributes, which is what the counters parse.
        aws.sns.TopicSubscription(
            f"{base}-subscription",
            topic=topic.arn,
            protocol="sqs",
            endpoint=queue.arn,
            filter_policy=json.dumps(spec.filter_policy, sort_keys=True),
            raw_message_delivery=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy]),
        )
        return queue, dlq

    def _create_consumer(
        self,
        function_name: str,
        specs: list[QueueSpec],
        queues: Mapping[str, tuple[aws.sqs.Queue, aws.sqs.Queue]],
    ) -> None:
        batching = self._args.batching
        consumer = HandlerFunction(
            f"{self._base}-{function_name}",
            HandlerFunctionArgs(
                spec=self._args.wiring.function(function_name),
                wiring=self._args.wiring,
                runtime=self._args.runtime,
                table_arns=self._args.table_arns,
                queue_arns={name: queue.arn for name, (queue, _) in queues.items()},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for spec in specs:
            aws.lambda_.EventSourceMapping(
                f"{self._base}-{spec.name}-mapping",
                event_source_arn=queues[spec.name][0].arn,
                function_name=consumer.function_arn,
                batch_size=batching.batch_size or spec.batch_size,
                maximum_batching_window_in_seconds=(
                    spec.max_batching_window_seconds
                    if batching.batching_window_seconds is None
                    else batching.batching_window_seconds
                ),
                scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(
                    maximum_concurrency=batching.maximum_concurrency,
                ),
                function_response_types=[REPORT_BATCH_ITEM_FAILURES],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[consumer.role_policy]),
            )
