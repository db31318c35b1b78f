"""OwnerAlerts: the topic that tells the owner of a post taking off and of operational alarms."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


def alert_topic_name(prefix: str) -> str:
    """E.g. `blog-analytics-prod-alerts`."""
    return f"{prefix}-alerts"


@dataclass(frozen=True)
class OwnerAlertsArgs:
    """Where alerts go."""

    prefix: str
    """Physical name prefix, e.g. `blog-analytics-prod`."""
    email: str
    """The one address subscribed (AWS mails it a confirmation link before the first alert)."""


class OwnerAlerts(pulumi.ComponentResource):
    """An SNS topic with one e-mail subscription; built only when the stack gives an address."""

    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: OwnerAlertsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("blog-analytics:index:OwnerAlerts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Not encrypted with the AWS-managed SNS key, unlike the view-event topic: CloudWatch
        # alarms cannot publish to a topic under that key (its policy admits no service), and
        # an alert carries only a post's id, a count and a referrer's origin.
        topic = aws.sns.Topic(f"{name}-topic", name=alert_topic_name(args.prefix), opts=child)
        aws.sns.TopicSubscription(f"{name}-email", topic=topic.arn, protocol="email", endpoint=args.email, opts=child)
        self.topic_arn = topic.arn
        self.register_outputs({"topic_arn": self.topic_arn})
