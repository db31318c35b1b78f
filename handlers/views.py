"""views: validate, classify, read the stored counts, publish the event, reply.

The read comes before the publish: if the read fails nothing was published and the
client may safely retry; once the publish succeeded the reply is always `ok`. A publish
that SNS accepted but whose response was lost is answered `unavailable` too: a view that
carries a `viewId` is resent with it, and counted once (see event_id).

The view also makes its target the connection's (live counts, handlers/connections.py):
beside the counts read, one UpdateItem moves the connection, one PutItem records it as a
reader and one Query counts the target's other readers, so the reply carries `readingNow` at no extra wait.
With live counts off (liveIntervalSeconds 0) there is no reader and no `readingNow`: only the
views budget, if the stack has one, is counted on the connection's item.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers import aws, connections
from handlers.api import ClientMistake, WebSocketRequest, WebSocketResponse, parse_request, respond
from handlers.classify import NoTarget, Target, UnknownPage, classify, external_referrer, view_event
from handlers.filtered import filtered
from handlers.log import log
from handlers.referrer_spam import is_spam
from handlers.schema import (
    ErrorReply,
    PageViewReply,
    PostViewReply,
    Reply,
    ViewEvent,
    ViewMessage,
    parse_message,
    reply_response,
)
from handlers.settings import Settings, load_settings
from handlers.signing import signature_valid
from handlers.store import get_page, get_post
from handlers.wiring import (
    CONNECTIONS,
    EVENT_TYPE_ATTRIBUTE,
    HAS_REFERRER_ATTRIBUTE,
    HOME_AND_PROFILE,
    POST_COUNT_READER,
)

VIEW_ID_PREFIX = "v:"
"""API Gateway's messageIds are base64 (`IjBa9fNxIAMCJYw=`, no `:`), so an id made from
a viewId can never equal one made from a messageId, whatever a client sends."""


def event_id(view_id: str | None, message_id: str) -> str:
    """Pure: the id the counters' ledger marks once (`views#<eventId>`, `referrer#<eventId>`).

    From the client's viewId when present, so a view resent after `unavailable`, a lost
    reply or a reconnect is counted once. A script that sends other content under the
    same viewId gets one of those views counted (whichever a counter commits first), never
    more. Each stack has its own ledger table, so a viewId means nothing beyond its stack.
    Without a viewId, every received message is a new view.
    """
    return VIEW_ID_PREFIX + view_id if view_id is not None else message_id


def accept_view(body: str, message_id: str, received_at_ms: int, settings: Settings) -> tuple[ViewEvent, str]:
    """The frame -> (event to publish, title for the reply), or ClientMistake.

    Pure but for the reason-coded line it logs when it refuses an unsigned post view or
    drops a spam referrer."""
    message = parse_message(ViewMessage, body)
    try:
        target: Target = classify(message, settings.page_rules)
    except NoTarget as exc:
        raise ClientMistake("invalid_event", str(exc)) from None
    except UnknownPage:
        raise ClientMistake("unknown_page", "currentPage matches no counted page") from None
    signed = settings.signed_posts and target.article_id is not None
    if signed and not signature_valid(
        settings.post_secrets, message.articleId or "", message.articleTitle or "", message.articleSig
    ):
        filtered("unsigned")
        raise ClientMistake("unsigned_post", "this post view carries no valid articleSig")
    referrer = external_referrer(message.referrer, settings.allowed_origins)
    if referrer is not None and is_spam(referrer, settings.referrer_spam):
        filtered("referrer_spam")  # the view counts; its referrer does not
        referrer = None
    view = view_event(message, target, event_id(message.viewId, message_id), received_at_ms, referrer)
    if signed and message.articleTitle:
        view = view.model_copy(update={"titleSigned": True})
    return view, message.articleTitle or ""


def message_attributes(event: ViewEvent) -> dict[str, dict[str, str]]:
    """What the subscriptions filter on."""
    attributes = {EVENT_TYPE_ATTRIBUTE: {"DataType": "String", "StringValue": event.eventType}}
    if event.referrer is not None:
        attributes[HAS_REFERRER_ATTRIBUTE] = {"DataType": "String", "StringValue": "true"}
    return attributes


def stored_counts(ddb: Any, settings: Settings, event: ViewEvent, title: str) -> Reply:
    if event.articleId is not None:
        post = get_post(ddb, settings.table(POST_COUNT_READER), event.articleId, title)
        return PostViewReply(**post.model_dump())
    assert event.page is not None
    page = get_page(ddb, settings.table(HOME_AND_PROFILE), event.page)
    return PageViewReply(**page.model_dump())


def counts_within_budget(
    ddb: Any, settings: Settings, request: WebSocketRequest, event: ViewEvent, title: str
) -> Reply | None:
    """Live counts off: the stored counts, and the view counted against the connection's
    budget (one UpdateItem beside the read; none without a budget), with no target: nothing
    follows the connection. None when the budget is spent."""
    budget = settings.views_per_connection
    if not budget:
        return stored_counts(ddb, settings, event, title)
    table, now = settings.table(CONNECTIONS), connections.now()
    expiry = connections.expires_at(request.connected_at_ms, now)
    reply, followed = aws.concurrently(
        lambda: stored_counts(ddb, settings, event, title),
        lambda: connections.follow_target(ddb, table, request.connection_id, None, expiry, budget),
    )
    assert isinstance(reply, PostViewReply | PageViewReply)
    return reply if followed.within_budget else None


def counts_and_readers(
    ddb: Any, settings: Settings, request: WebSocketRequest, event: ViewEvent, title: str
) -> Reply | None:
    """The stored counts, with `readingNow`; the connection now follows the view's target.
    None when the connection's views budget is spent (the view must not be published).

    Four independent calls, side by side (aws.concurrently): the reply waits for one.
    """
    if not settings.live_counts:
        return counts_within_budget(ddb, settings, request, event, title)
    table, now = settings.table(CONNECTIONS), connections.now()
    expiry = connections.expires_at(request.connected_at_ms, now)
    budget = settings.views_per_connection
    reply, followed, _, others = aws.concurrently(
        lambda: stored_counts(ddb, settings, event, title),
        lambda: connections.follow_target(ddb, table, request.connection_id, event.target, expiry, budget),
        lambda: connections.add_reader(ddb, table, event.target, request.connection_id, expiry),
        lambda: connections.readers_besides(ddb, table, event.target, request.connection_id, now),
    )
    assert isinstance(reply, PostViewReply | PageViewReply)
    if not followed.within_budget:
        # The reader item went in beside the refused update; it stays only where the
        # connection still is (its held target). This takes the publish's place in the
        # reply path, so reply_calls is unchanged.
        if followed.held_target != event.target:
            connections.drop_reader(ddb, table, event.target, request.connection_id)
        return None
    return reply.model_copy(update={"readingNow": others + 1})


def publish(sns: Any, topic_arn: str, event: ViewEvent) -> None:
    sns.publish(
        TopicArn=topic_arn,
        Message=event.model_dump_json(exclude_none=True),
        MessageAttributes=message_attributes(event),
    )


def handler(event: dict[str, Any], context: object) -> WebSocketResponse:
    settings = load_settings()
    try:
        request = parse_request(event)
        view, title = accept_view(request.body, request.message_id, request.received_at_ms, settings)
    except ClientMistake as mistake:
        return respond(mistake.body)
    try:
        reply = counts_and_readers(aws.client("dynamodb"), settings, request, view, title)
        if reply is None:
            filtered("budget")
            return reply_response(ErrorReply(error="rate_limited", detail="too many views on this connection"))
        publish(aws.client("sns"), settings.topic_arn, view)
    except (ClientError, BotoCoreError) as exc:
        log("error", "view_not_accepted", eventType=view.eventType, error=type(exc).__name__)
        return reply_response(ErrorReply(error="unavailable", detail="try again shortly"))
    return reply_response(reply)
