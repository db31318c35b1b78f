"""Privacy on the local stack: a marker IP, user agent and the connection ids appear in
no table item, no SNS message and no log line; every log line is one JSON object. The one
exception is live counts' Connections table, which holds a connection's id while it is open
(never the IP or user agent) and nothing of it once it closed.

The markers travel where a browser puts them (X-Forwarded-For and friends, the
User-Agent header) and where a careless design might keep them (previousPage,
currentPage of a post view, a referrer's query string). The connection ids are read
from a spy around the gateway's connection record, since no client ever sees one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from handlers.wiring import WIRING
from local.launcher import scan

from .conftest import PROFILE, Profile
from .stack import LocalStack, parse_log_line, start_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PROFILE.timeout_seconds)]

MARKER_IP = "203.0.113.197"
MARKER_UA = "PrivacyProbe/9.9 (marker-ua-5c1f)"
HOSTILE_TITLES = ["Line\r\nBreak", "Line\u2028Separator", "Para\u2029graph", "Tab\there", "NEL\x85here", "\r\n{}"]


@dataclass
class Tapped:
    stack: LocalStack
    replies: list[dict[str, Any]]
    sns_messages: list[dict[str, Any]]
    connection_ids: list[str]

    def markers(self) -> list[str]:
        return [MARKER_IP, MARKER_UA, "marker-ua-5c1f", *self.connection_ids]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The local stack with the connection-id spy (overrides the suite's plain one)."""
    running = start_stack(ids_file=Path(tmp_path_factory.mktemp("privacy")) / "connection-ids")
    yield running
    running.stop()


def tap_topic(stack: LocalStack) -> str:
    """An extra queue subscribed to the view topic with no filter: a copy of every published event."""
    sqs, sns = stack.client("sqs"), stack.client("sns")
    url = sqs.create_queue(QueueName="privacy-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    [topic] = [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":local-view-events")]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return str(url)


def frames() -> list[str]:
    query = f"?ip={MARKER_IP}&ua={MARKER_UA}"
    out = [
        {
            "message": "views",
            "articleId": "privacy-post",
            "articleTitle": "Private",
            "previousPage": MARKER_IP,
            "currentPage": f"/posts/privacy-post{query}",
            "referrer": f"https://news.example.com/item{query}",
        },
        {
            "message": "views",
            "currentPage": f"/{query}",
            "previousPage": MARKER_UA,
            "referrer": f"https://search.example/{query}#{MARKER_IP}",
        },
        {"message": "views", "currentPage": f"/pages/about{query}", "refreshed": True},
        {"message": "stats", "articleIds": ["privacy-post"]},
        {"message": "views", "articleId": f"ip {MARKER_IP}"},  # refused: a space
        {"message": "nonsense", "ip": MARKER_IP},
    ]
    out += [{"message": "views", "articleId": "privacy-post", "articleTitle": t} for t in HOSTILE_TITLES]
    out += [{"message": "views", "currentPage": f"/pages/contacts\r\n{MARKER_UA}"}]
    return [json.dumps(f) for f in out] + [f"not json {MARKER_IP}\r\n{{\u2028"]


def reply_to(ws: Any) -> dict[str, Any]:
    """The frame's reply; live pushes (`counts`) to this connection may come first."""
    while True:
        message: dict[str, Any] = json.loads(ws.recv(timeout=15))
        if message.get("message") != "counts":
            return message


def receive_all(stack: LocalStack, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        page = stack.client("sqs").receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300, MessageAttributeNames=["All"]
        )
        if not page.get("Messages"):
            return messages
        messages += page["Messages"]


@pytest.fixture(scope="module")
def tapped(stack: LocalStack, profile: Profile) -> Tapped:
    url = tap_topic(stack)
    headers = {"X-Forwarded-For": f"{MARKER_IP}, 10.0.0.1", "X-Real-IP": MARKER_IP, "Forwarded": f"for={MARKER_IP}"}
    replies = []
    with pytest.raises(InvalidStatus):  # another web page: refused, and logged without the markers
        connect(
            stack.ready.ws_url,
            origin=Origin("https://evil.example"),
            additional_headers=headers,
            user_agent_header=MARKER_UA,
        )
    for _ in range(3):
        with connect(
            stack.ready.ws_url,
            origin=Origin(stack.ready.origin),
            additional_headers=headers,
            user_agent_header=MARKER_UA,
        ) as ws:
            for frame in frames():
                ws.send(frame)
                replies.append(reply_to(ws))
    stack.settle(profile.settle_seconds)
    return Tapped(stack, replies, receive_all(stack, url), stack.connection_ids())


def leaks(text: str, tapped: Tapped) -> list[str]:
    return [m for m in tapped.markers() if m in text]


def test_privacy_probe_reached_the_pipeline(tapped: Tapped) -> None:
    ok = [r for r in tapped.replies if r.get("status") == "ok"]
    assert len(tapped.connection_ids) == 4, "the spy missed connection ids (3 admitted, 1 refused)"
    assert ok and len(tapped.sns_messages) == len(ok), "the tap did not see every accepted view"


def test_privacy_markers_in_no_table_item(tapped: Tapped) -> None:
    """Connections included: every probe connection closed, so the fan-out forgot its id."""
    ddb = tapped.stack.client("dynamodb")
    tables = ddb.list_tables()["TableNames"]
    assert len(tables) == len(WIRING.tables)
    deadline = time.monotonic() + 30  # the fan-out forgets a closed connection within an interval
    while leaks(json.dumps(scan(ddb, "local-Connections")), tapped) and time.monotonic() < deadline:
        time.sleep(0.5)
    found = {t: leaks(json.dumps(scan(ddb, t)), tapped) for t in tables}
    assert {t: m for t, m in found.items() if m} == {}


def test_privacy_open_connection_id_only_in_connections(stack: LocalStack, tapped: Tapped) -> None:
    ddb = stack.client("dynamodb")
    with connect(stack.ready.ws_url, origin=Origin(stack.ready.origin)) as ws:
        ws.send(json.dumps({"message": "views", "articleId": "privacy-open"}))
        reply_to(ws)
        ws.send(json.dumps({"message": "watch", "pages": ["Home_Page"]}))
        reply_to(ws)
        [opened] = [c for c in stack.connection_ids() if c not in tapped.connection_ids]
        holding = {t for t in ddb.list_tables()["TableNames"] if opened in json.dumps(scan(ddb, t))}
        assert holding == {"local-Connections"}


def test_privacy_markers_in_no_sns_message(tapped: Tapped) -> None:
    published = json.dumps([[m["Body"], m.get("MessageAttributes", {})] for m in tapped.sns_messages])
    assert leaks(published, tapped) == []


def test_privacy_markers_in_no_log_line(tapped: Tapped) -> None:
    text = b"\n".join(tapped.stack.log_lines()).decode("utf-8", "replace")
    assert leaks(text, tapped) == []


def test_privacy_every_log_line_one_json_object(tapped: Tapped) -> None:
    lines = tapped.stack.log_lines()
    assert lines, "the stack logged nothing"
    bad = [line for line in lines if parse_log_line(line) is None]
    breaks = [line for line in lines if any(c in line.decode("utf-8", "replace") for c in "\r\u2028\u2029\x85")]
    assert bad == [] and breaks == []
