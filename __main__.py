"""blog-analytics on AWS: read the stack's config, then wire the components like the diagram.

WebSocketGateway --routes--> functions --publish--> ViewEventBus --queues--> counters
                                                                              |
CountStore: tables <----------------------------------------------------------+
StreamConsumers: PostCountWriter --stream--> replicate --> PostCountReader, TopPosts
                 count tables --streams--> series --> Series (hourly history) --> OwnerAlerts
                 count and connection changes --stream--> live fan-out --> @connections
OperationalAlarms: dead-letter and on-failure queues, function errors --> OwnerAlerts
"""

import json
from pathlib import Path

import pulumi

from components.alarms import OperationalAlarms, OperationalAlarmsArgs
from components.api_gateway_account import ApiGatewayAccount, ApiGatewayAccountArgs
from components.config import parse_config
from components.count_store import CountStore, CountStoreArgs
from components.filtered_metrics import FilteredMetrics, FilteredMetricsArgs
from components.function import HandlerRuntime
from components.handler_package import HandlerPackage, HandlerPackageArgs
from components.owner_alerts import OwnerAlerts, OwnerAlertsArgs
from components.stream_consumers import StreamConsumers, StreamConsumersArgs
from components.view_event_bus import ViewEventBus, ViewEventBusArgs
from components.websocket_gateway import WebSocketGateway, WebSocketGatewayArgs
from handlers.pages import DEFAULT_PAGE_RULES, page_rules_json
from handlers.referrer_spam import spam_hosts_json
from handlers.wiring import (
    ENV_ALERT_TOPIC_ARN,
    ENV_ALERT_VIEWS_PER_HOUR,
    ENV_ALLOWED_ORIGINS,
    ENV_CONNECTIONS_ENDPOINT,
    ENV_LIVE_INTERVAL,
    ENV_PAGE_RULES,
    ENV_POST_SECRETS,
    ENV_REFERRER_SPAM,
    ENV_TOPIC_ARN,
    ENV_VIEWS_PER_CONNECTION,
    WIRING,
    with_live_interval,
)

ROOT = Path(__file__).resolve().parent

config = parse_config(pulumi.Config().get)
wiring = with_live_interval(WIRING, config.live_interval_seconds, views_budget=bool(config.views_per_connection))
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
        ENV_VIEWS_PER_CONNECTION: str(config.views_per_connection or 0),
        # 0 turns live counts off: the views and watch replies and the fan-out read it.
        ENV_LIVE_INTERVAL: str(config.live_interval_seconds),
        # A Pulumi secret: encrypted in the stack's state and shown as [secret] in previews.
        ENV_POST_SECRETS: pulumi.Output.secret(json.dumps(list(config.post_signing_secrets))),
    },
)

# No address, no topic: nothing would read it.
alerts = OwnerAlerts("alerts", OwnerAlertsArgs(prefix=prefix, email=config.alerts.email)) if config.alerts else None
alert_topic_arn = alerts.topic_arn if alerts else None

store = CountStore("counts", CountStoreArgs(wiring=wiring, runtime=runtime, protect=config.protect))

bus = ViewEventBus(
    "view-events",
    ViewEventBusArgs(wiring=wiring, runtime=runtime, table_arns=store.table_arns, batching=config.batching),
)

account = (
    [ApiGatewayAccount("apigateway-account", ApiGatewayAccountArgs(prefix=prefix))]
    if config.create_api_gateway_account
    else []
)
gateway = WebSocketGateway(
    "websocket",
    WebSocketGatewayArgs(
        wiring=wiring,
        runtime=runtime.with_env(**{ENV_TOPIC_ARN: bus.topic_arn}),
        table_arns=store.table_arns,
        topic_arn=bus.topic_arn,
        throttling=config.throttling,
        access_logs=config.access_logs,
        stage_depends_on=account,
    ),
)

stream_env: dict[str, pulumi.Input[str]] = {
    ENV_CONNECTIONS_ENDPOINT: gateway.management_endpoint,
    ENV_ALERT_TOPIC_ARN: alert_topic_arn or "",
    ENV_ALERT_VIEWS_PER_HOUR: str(config.alerts.views_per_hour if config.alerts else 0),
}
# After the gateway: the live fan-out pushes through its stage's @connections.
StreamConsumers(
    "streams",
    StreamConsumersArgs(
        wiring=wiring,
        runtime=runtime.with_env(**stream_env),
        table_arns=store.table_arns,
        stream_arns=store.stream_arns,
        connections_arn=gateway.connections_arn,
        alert_topic_arn=alert_topic_arn,
    ),
)
refusals = FilteredMetrics("refusals", FilteredMetricsArgs(stack=stack, prefix=prefix, depends_on=[gateway]))

pulumi.export("websocketUrl", gateway.url)
pulumi.export("consoleUrl", gateway.console_url)
pulumi.export("tableNames", store.table_names)
pulumi.export("topicArn", bus.topic_arn)
pulumi.export("deadLetterQueueUrls", bus.dead_letter_queue_urls)

alarms = (
    OperationalAlarms("alarms", OperationalAlarmsArgs(wiring=wiring, prefix=prefix, topic_arn=alert_topic_arn))
    if alert_topic_arn is not None
    else None
)
pulumi.export("alertTopicArn", alert_topic_arn)
pulumi.export("alarmNames", alarms.alarm_names if alarms else [])
pulumi.export("refusalMetricsNamespace", refusals.namespace)
