"""blog-analytics on AWS: read the stack's config, then wire the components like the diagram.

WebSocketGateway --routes--> functions --publish--> ViewEventBus --queues--> counters
                                                                              |
CountStore: tables <----------------------------------------------------------+
StreamConsumers: PostCountWriter --stream--> replicate --> PostCountReader, TopPosts
"""

import json
from pathlib import Path

import pulumi

from components.api_gateway_account import ApiGatewayAccount, ApiGatewayAccountArgs
from components.config import parse_config
from components.count_store import CountStore, CountStoreArgs
from components.filtered_metrics import FilteredMetrics, FilteredMetricsArgs
from components.function import HandlerRuntime
from components.handler_package import HandlerPackage, HandlerPackageArgs
from components.stream_consumers import StreamConsumers, StreamConsumersArgs
from components.view_event_bus import ViewEventBus, ViewEventBusArgs
from components.websocket_gateway import WebSocketGateway, WebSocketGatewayArgs
from handlers.pages import DEFAULT_PAGE_RULES, page_rules_json
from handlers.referrer_spam import spam_hosts_json
from handlers.wiring import (
    ENV_ALLOWED_ORIGINS,
    ENV_PAGE_RULES,
    ENV_POST_SECRETS,
    ENV_REFERRER_SPAM,
    ENV_TOPIC_ARN,
    WIRING,
)

ROOT = Path(__file__).resolve().parent

config = parse_config(pulumi.Config().get)
if config.views_per_connection is not None:
    pulumi.log.warn("viewsPerConnection is not enforced yet: it needs the Connections table (issue 11)")
stack = pulumi.get_stack()
prefix = f"{pulumi.get_project()}-{stack}"

package = HandlerPackage(
    "handlers",
    HandlerPackageArgs(
        prefix=prefix, handlers_dir=ROOT / "handlers", requirements=ROOT / "handlers" / "requirements.txt"
    ),
)
runtime = HandlerRuntime(
    stack=stack,
    prefix=prefix,
    code=package.code,
    layer_arn=package.layer_arn,
    log_retention_days=config.log_retention_days,
    env={
        ENV_ALLOWED_ORIGINS: json.dumps(list(config.allowed_origins)),
        ENV_PAGE_RULES: page_rules_json(config.page_rules or DEFAULT_PAGE_RULES),
        ENV_REFERRER_SPAM: spam_hosts_json(config.referrer_spam),
        # A Pulumi secret: encrypted in the stack's state and shown as [secret] in previews.
        ENV_POST_SECRETS: pulumi.Output.secret(json.dumps(list(config.post_signing_secrets))),
    },
)

store = CountStore("counts", CountStoreArgs(wiring=WIRING, runtime=runtime, protect=config.protect))
StreamConsumers(
    "streams",
    StreamConsumersArgs(wiring=WIRING, runtime=runtime, table_arns=store.table_arns, stream_arns=store.stream_arns),
)

bus = ViewEventBus(
    "view-events",
    ViewEventBusArgs(wiring=WIRING, runtime=runtime, table_arns=store.table_arns, batching=config.batching),
)

account = (
    [ApiGatewayAccount("apigateway-account", ApiGatewayAccountArgs(prefix=prefix))]
    if config.create_api_gateway_account
    else []
)
gateway = WebSocketGateway(
    "websocket",
    WebSocketGatewayArgs(
        wiring=WIRING,
        runtime=runtime.with_env(**{ENV_TOPIC_ARN: bus.topic_arn}),
        table_arns=store.table_arns,
        topic_arn=bus.topic_arn,
        throttling=config.throttling,
        access_logs=config.access_logs,
        stage_depends_on=account,
    ),
)

refusals = FilteredMetrics("refusals", FilteredMetricsArgs(stack=stack, prefix=prefix, depends_on=[gateway]))

pulumi.export("websocketUrl", gateway.url)
pulumi.export("consoleUrl", gateway.console_url)
pulumi.export("tableNames", store.table_names)
pulumi.export("topicArn", bus.topic_arn)
pulumi.export("deadLetterQueueUrls", bus.dead_letter_queue_urls)
pulumi.export("refusalMetricsNamespace", refusals.namespace)
