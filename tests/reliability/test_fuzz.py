"""Fuzzing through the local gateway: every frame answered, nothing counted but valid views.

One module-scoped run sends the hypothesis-generated frames over real WebSocket
connections and records what came back; each test then checks one promise of the
wire contract against that record.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from .conftest import PROFILE, Figures, Profile
from .messages import ERROR_CODES, PAGES, REFERRERS, Frame, frames
from .stack import LocalStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PROFILE.timeout_seconds)]

PROBE = json.dumps({"message": "stats", "articleIds": ["fuzz-a"]})
REPLY_SECONDS = 15


@dataclass
class Outcome:
    frame: Frame
    reply: dict[str, Any] | None = None
    raw: str | bytes | None = None
    close_code: int | None = None
    probe: dict[str, Any] | None = None
    """The stats reply to the probe sent after a frame that was not a counted view."""


@dataclass
class FuzzRun:
    outcomes: list[Outcome] = field(default_factory=list)
    posts: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(articleId, total|unique) -> count, from the views answered ok."""
    pages: Counter[tuple[str, str]] = field(default_factory=Counter)
    referrers: Counter[tuple[str, str]] = field(default_factory=Counter)
    view_ids: set[str] = field(default_factory=set)
    """viewIds of the views counted so far: the same viewId again is not another view."""
    seconds: float = 0.0


class Client:
    """One connection at a time; a new one after the server closes it."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.ws: ClientConnection | None = None
        self.connections = 0

    def open(self) -> ClientConnection:
        if self.ws is None:
            self.ws = connect(
                self.stack.ready.ws_url,
                origin=Origin(self.stack.ready.origin),
                max_size=None,
                open_timeout=REPLY_SECONDS,
                legacy=True,
            )
            self.connections += 1
        return self.ws

    def exchange(self, data: str | bytes) -> tuple[str | bytes | None, int | None]:
        """(reply, None) or (None, close code)."""
        ws = self.open()
        try:
            ws.send(data)
            while True:
                reply = ws.recv(timeout=REPLY_SECONDS)
                if not (isinstance(reply, str) and reply.startswith('{"message":"counts"')):
                    return reply, None  # live pushes share the socket
        except ConnectionClosed as closed:
            self.ws = None
            return None, closed.rcvd.code if closed.rcvd else None

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


def as_object(raw: str | bytes | None) -> dict[str, Any] | None:
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def record_counted(run: FuzzRun, sent: dict[str, Any], reply: dict[str, Any]) -> None:
    if "viewId" in sent:
        if sent["viewId"] in run.view_ids:
            return
        run.view_ids.add(sent["viewId"])
    unique = 0 if sent.get("refreshed") is True else 1
    if "articleId" in reply:
        run.posts[(reply["articleId"], "total")] += 1
        run.posts[(reply["articleId"], "unique")] += unique
        target = f"post:{reply['articleId']}"
    else:
        run.pages[(reply["page"], "total")] += 1
        run.pages[(reply["page"], "unique")] += unique
        target = f"page:{reply['page']}"
    if sent.get("referrer") in REFERRERS:
        run.referrers[(REFERRERS[sent["referrer"]], target)] += 1


def send(client: Client, run: FuzzRun, frame: Frame) -> None:
    raw, close_code = client.exchange(frame.data)
    outcome = Outcome(frame, as_object(raw), raw, close_code)
    run.outcomes.append(outcome)
    if outcome.reply is not None and counted(outcome):
        record_counted(run, json.loads(frame.data), outcome.reply)
        return
    probe, _ = client.exchange(PROBE)
    outcome.probe = as_object(probe)


@pytest.fixture(scope="module")
def fuzz(stack: LocalStack, profile: Profile, figures: Figures) -> Iterator[FuzzRun]:
    run = FuzzRun()
    client = Client(stack)

    @settings(
        max_examples=profile.fuzz_messages,
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(frames())
    def send_all(frame: Frame) -> None:
        send(client, run, frame)

    start = time.monotonic()
    send_all()
    run.seconds = time.monotonic() - start
    client.close()
    settle = stack.settle(profile.settle_seconds)
    kinds = Counter(o.frame.kind for o in run.outcomes)
    figures.add(
        "Fuzzing",
        f"{len(run.outcomes)} generated frames in {run.seconds:.1f} s over {client.connections} connections "
        f"(+{sum(o.probe is not None for o in run.outcomes)} stats probes); counted views settled {settle:.1f} s later",
    )
    figures.add("Fuzzing", "frames by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    yield run


def failing(run: FuzzRun, check: Any, limit: int = 5) -> list[str]:
    bad = [o for o in run.outcomes if not check(o)]
    return [f"{o.frame.kind} {o.frame.data[:160]!r} -> {o.raw!r:.200} close={o.close_code}" for o in bad[:limit]] + (
        [f"... {len(bad)} in all"] if bad else []
    )


def is_reply(reply: dict[str, Any] | None) -> bool:
    if reply is None:
        return False
    kind = reply.get("message")
    if kind == "error":
        return reply.get("error") in ERROR_CODES
    if kind == "views":
        return reply.get("status") == "ok" and isinstance(reply.get("totalViews"), int)
    return kind == "stats" and isinstance(reply.get("articles"), list) and isinstance(reply.get("pages"), list)


def test_fuzz_ran_every_generated_frame(fuzz: FuzzRun, profile: Profile) -> None:
    assert len(fuzz.outcomes) >= profile.fuzz_messages


def test_fuzz_every_frame_answered_or_closed_1009(fuzz: FuzzRun) -> None:
    def answered(o: Outcome) -> bool:
        if o.frame.expect == "close":
            return o.reply is None and o.close_code == 1009
        return is_reply(o.reply)

    assert failing(fuzz, answered) == []


def test_fuzz_replies_match_the_contract(fuzz: FuzzRun) -> None:
    def as_expected(o: Outcome) -> bool:
        reply = o.reply or {}
        kind = reply.get("message")
        if o.frame.expect == "views_ok":
            sent = json.loads(o.frame.data)
            target = reply.get("articleId") if "articleId" in sent else reply.get("page")
            wanted = sent.get("articleId") or PAGES.get(sent.get("currentPage", ""))
            return kind == "views" and target == wanted
        if o.frame.expect == "any":
            return kind in ("views", "error")
        return o.frame.expect != "stats" or kind == "stats"

    assert failing(fuzz, as_expected) == []


def test_fuzz_bad_frames_refused(fuzz: FuzzRun) -> None:
    refused = [o for o in fuzz.outcomes if o.frame.expect == "error"]
    assert refused, "the generator made no bad frame"
    assert failing(fuzz, lambda o: o.frame.expect != "error" or (o.reply or {}).get("message") == "error") == []


def test_fuzz_frames_over_128kb_close_with_1009(fuzz: FuzzRun) -> None:
    closed = [o for o in fuzz.outcomes if o.frame.expect == "close"]
    assert failing(fuzz, lambda o: o.frame.expect != "close" or o.close_code == 1009) == []
    assert closed or len(fuzz.outcomes) < 1000, "no frame over 128 KB was generated"


def counted(o: Outcome) -> bool:
    return (o.reply or {}).get("message") == "views" and (o.reply or {}).get("status") == "ok"


def test_fuzz_connection_usable_after_every_bad_frame(fuzz: FuzzRun) -> None:
    assert [o for o in fuzz.outcomes if o.probe is not None], "no probe was sent"
    assert failing(fuzz, lambda o: counted(o) or (o.probe or {}).get("message") == "stats") == []


def test_fuzz_no_handler_exception_escapes(fuzz: FuzzRun, stack: LocalStack) -> None:
    assert stack.handler_failures() == []
    assert not [o for o in fuzz.outcomes if (o.reply or {}).get("message") == "Internal server error"]


def test_fuzz_post_counts_only_from_views_answered_ok(fuzz: FuzzRun, stack: LocalStack) -> None:
    expected = {a: (fuzz.posts[(a, "total")], fuzz.posts[(a, "unique")]) for a, _ in fuzz.posts}
    assert stack.counts("PostCountWriter", "articleId") == expected
    assert stack.counts("PostCountReader", "articleId") == expected


def test_fuzz_page_counts_only_from_views_answered_ok(fuzz: FuzzRun, stack: LocalStack) -> None:
    expected = {p: (fuzz.pages[(p, "total")], fuzz.pages[(p, "unique")]) for p, _ in fuzz.pages}
    assert stack.counts("HomeAndProfile", "pageName") == expected


def test_fuzz_referrer_rows_only_from_views_answered_ok(fuzz: FuzzRun, stack: LocalStack) -> None:
    rows = stack.ready.scan("Referrer")
    assert {(r["referrer"]["S"], r["target"]["S"]): int(r["views"]["N"]) for r in rows} == dict(fuzz.referrers)


def test_fuzz_nothing_in_any_dlq(fuzz: FuzzRun, stack: LocalStack) -> None:
    assert set(stack.dlq_depths().values()) == {0}
