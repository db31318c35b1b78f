"""The gateway in-process with fake handlers: handshake decisions, routing, failures, @connections."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_support import RunningGateway, wait_until
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from local import emulator
from local.gateway import Limits, content_length, expiry, lift_body

ORIGIN = Origin("http://blog.test")


def padded(body: dict[str, Any], size: int) -> str:
    """`body` as JSON of exactly `size` UTF-8 bytes, padded with two-byte characters (size is bytes, not characters)."""
    base = json.dumps({**body, "pad": ""}, ensure_ascii=False)
    room = size - len(base.encode())
    return base[:-2] + "\u00e9" * (room // 2) + "x" * (room % 2) + '"}'


class Fakes:
    """Fake handlers recording their events; `connect` admits ORIGIN only, like the real one."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.fail_views = False

    def record(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.events.append(event)

    def routes(self, route_key: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e["requestContext"]["routeKey"] == route_key]

    def handlers(self) -> dict[str, Any]:
        def connect_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
            self.record(event)
            if event["requestContext"]["identity"].get("userAgent") == "explode":
                raise RuntimeError("boom")
            return {"statusCode": 200 if event["headers"].get("Origin") == ORIGIN else 403}

        def reply(name: str) -> Any:
            def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
                self.record(event)
                if name == "views" and self.fail_views:
                    raise RuntimeError("views is broken")
                if name == "disconnect":
                    return {"statusCode": 200, "body": "never sent"}
                body = {"route": name, "id": event["requestContext"]["messageId"]}
                asked = json.loads(event["body"]).get("replyBytes") if event["body"].startswith("{") else None
                reply = padded(body, asked) if isinstance(asked, int) else json.dumps(body)
                return {"statusCode": 200, "body": reply}

            return handler

        return {
            "connect": connect_handler,
            "disconnect": reply("disconnect"),
            "default": reply("default"),
            "views": reply("views"),
            "stats": reply("stats"),
        }


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def gateway(fakes: Fakes, tmp_path: Path) -> Iterator[RunningGateway]:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "index.html").write_text('<script data-endpoint="__WS_URL__"></script>')
    (tmp_path / "analytics.js").write_text("/* client */")
    dashboard = lambda: (200, "text/html; charset=utf-8", b"<h1>numbers</h1>")  # noqa: E731
    running = RunningGateway(fakes.handlers(), client_root=tmp_path, pages={"/dashboard": dashboard})
    yield running
    running.stop()


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


# ---- pure: request bodies --------------------------------------------------------------


def test_content_length_read_case_insensitively() -> None:
    assert content_length(b"POST / HTTP/1.1\r\ncontent-LENGTH: 12\r\n\r\n") == 12
    assert content_length(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") is None


def test_lift_body_waits_for_the_whole_body() -> None:
    assert lift_body(b"POST /@connections/x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab") is None
    assert lift_body(b"POST /@connections/x HTTP/1.1\r\nContent-Len") is None


def test_lift_body_zeroes_length_and_returns_body() -> None:
    passed, body = lift_body(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello") or (b"", b"")
    assert body == b"hello"
    assert passed == b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"


def test_lift_body_passes_bodiless_requests_unchanged() -> None:
    request = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"
    assert lift_body(request) == (request, b"")


def test_lift_body_leaves_oversized_bodies_to_the_library() -> None:
    request = b"POST /x HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n"
    assert lift_body(request) == (request, b"")


# ---- handshake -----------------------------------------------------------------------------


def test_connect_runs_connect_with_request_headers(gateway: RunningGateway, fakes: Fakes) -> None:
    with connect(gateway.ws_url, origin=ORIGIN, additional_headers={"X-Test": "yes"}):
        pass
    (event,) = fakes.routes("$connect")
    assert event["headers"]["Origin"] == ORIGIN and event["headers"]["X-Test"] == "yes"
    assert event["requestContext"]["eventType"] == "CONNECT"


def test_connect_refused_is_403(gateway: RunningGateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(gateway.ws_url, origin=Origin("http://evil.test"))
    assert refused.value.response.status_code == 403


def test_connect_handler_crash_is_500_and_gateway_survives(gateway: RunningGateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(gateway.ws_url, origin=ORIGIN, user_agent_header="explode")
    assert refused.value.response.status_code == 500
    with connect(gateway.ws_url, origin=ORIGIN) as ws:
        ws.send('{"message":"stats"}')
        assert json.loads(ws.recv(5))["route"] == "stats"


def test_websocket_on_other_path_is_404(gateway: RunningGateway, fakes: Fakes) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(gateway.ws_url + "/other", origin=ORIGIN)
    assert refused.value.response.status_code == 404
    assert fakes.routes("$connect") == []


# ---- frames ----------------------------------------------------------------------------------


def test_frames_routed_and_replied_in_order(gateway: RunningGateway, fakes: Fakes) -> None:
    with connect(gateway.ws_url, origin=ORIGIN) as ws:
        for frame in ['{"message":"views"}', '{"message":"stats"}', "nonsense", '{"message":"other"}']:
            ws.send(frame)
        routes = [json.loads(ws.recv(5))["route"] for _ in range(4)]
    assert routes == ["views", "stats", "default", "default"]


def test_message_ids_server_made_and_unique(gateway: RunningGateway, fakes: Fakes) -> None:
    with connect(gateway.ws_url, origin=ORIGIN) as ws:
        for _ in range(20):
            ws.send('{"message":"views","messageId":"chosen-by-client"}')
        ids = [json.loads(ws.recv(5))["id"] for _ in range(20)]
    assert len(set(ids)) == 20 and "chosen-by-client" not in ids
    connection_ids = {e["requestContext"]["connectionId"] for e in fakes.events}
    assert len(connection_ids) == 1


def test_handler_crash_answers_internal_error_and_connection_survives(gateway: RunningGateway, fakes: Fakes) -> None:
    fakes.fail_views = True
    with connect(gateway.ws_url, origin=ORIGIN) as ws:
        ws.send('{"message":"views"}')
        error = json.loads(ws.recv(5))
        ws.send('{"message":"stats"}')
        assert json.loads(ws.recv(5))["route"] == "stats"
    assert error["message"] == "Internal server error" and "requestId" in error


def test_message_over_128kb_closes_with_1009(gateway: RunningGateway, fakes: Fakes) -> None:
    with connect(gateway.ws_url, origin=ORIGIN, max_size=None) as ws:
        ws.send("x" * (128 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    wait_until(lambda: fakes.routes("$disconnect"), 5, "$disconnect")
    assert fakes.routes("$default") == []


def test_message_of_exactly_128kb_is_routed(gateway: RunningGateway) -> None:
    with connect(gateway.ws_url, origin=ORIGIN) as ws:
        ws.send("x" * (128 * 1024))
        assert json.loads(ws.recv(5))["route"] == "default"


def test_route_response_over_128kb_never_reaches_the_client(
    gateway: RunningGateway, capfd: pytest.CaptureFixture[str]
) -> None:
    """API Gateway fails a route response over its 128 KB message quota: the client gets no frame."""
    with connect(gateway.ws_url, origin=ORIGIN, max_size=None) as ws:
        ws.send(json.dumps({"message": "stats", "replyBytes": 128 * 1024 + 1}))
        ws.send('{"message":"views"}')
        assert json.loads(ws.recv(5))["route"] == "views"
    assert '"event":"route_response_too_large"' in capfd.readouterr().err


def test_route_response_of_exactly_128kb_is_sent(gateway: RunningGateway) -> None:
    with connect(gateway.ws_url, origin=ORIGIN, max_size=None) as ws:
        ws.send(json.dumps({"message": "stats", "replyBytes": 128 * 1024}))
        reply = ws.recv(5)
    assert isinstance(reply, str) and len(reply.encode()) == 128 * 1024 and json.loads(reply)["route"] == "stats"


def test_disconnect_runs_on_close_with_the_close_code(gateway: RunningGateway, fakes: Fakes) -> None:
    with connect(gateway.ws_url, origin=ORIGIN) as ws:
        ws.close(4000, "bye")
    (event,) = wait_until(lambda: fakes.routes("$disconnect"), 5, "$disconnect")
    assert event["requestContext"]["disconnectStatusCode"] == 4000
    assert event["requestContext"]["connectionId"] == fakes.routes("$connect")[0]["requestContext"]["connectionId"]


# ---- @connections ------------------------------------------------------------------------


def test_connections_endpoint_with_boto3(gateway: RunningGateway, fakes: Fakes) -> None:
    api = emulator.client("apigatewaymanagementapi", f"http://127.0.0.1:{gateway.port}")
    with connect(gateway.ws_url, origin=ORIGIN, user_agent_header="tester/1") as ws:
        connection_id = fakes.routes("$connect")[0]["requestContext"]["connectionId"]
        api.post_to_connection(ConnectionId=connection_id, Data=b'{"pushed":true}')
        assert ws.recv(5) == '{"pushed":true}'
        info = api.get_connection(ConnectionId=connection_id)
        assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "tester/1"}
        assert info["ConnectedAt"] <= info["LastActiveAt"]
        api.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            ws.recv(5)
    wait_until(lambda: fakes.routes("$disconnect"), 5, "$disconnect")
    with pytest.raises(ClientError) as gone:
        api.post_to_connection(ConnectionId=connection_id, Data=b"late")
    assert gone.value.response["Error"]["Code"] == "GoneException"
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_connections_post_over_128kb_is_payload_too_large(gateway: RunningGateway, fakes: Fakes) -> None:
    """PostToConnection's Data is at most 131,072 bytes: AWS answers 413 PayloadTooLargeException."""
    api = emulator.client("apigatewaymanagementapi", f"http://127.0.0.1:{gateway.port}")
    with connect(gateway.ws_url, origin=ORIGIN, max_size=None) as ws:
        connection_id = fakes.routes("$connect")[0]["requestContext"]["connectionId"]
        with pytest.raises(api.exceptions.PayloadTooLargeException) as refused:
            api.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
        api.post_to_connection(ConnectionId=connection_id, Data=b"y" * (128 * 1024))
        assert ws.recv(5) == "y" * (128 * 1024), "the oversize post must not have been sent"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_connections_unknown_id_is_gone(gateway: RunningGateway) -> None:
    api = emulator.client("apigatewaymanagementapi", f"http://127.0.0.1:{gateway.port}")
    with pytest.raises(api.exceptions.GoneException):
        api.get_connection(ConnectionId="AAAAAAAAAAAAAAA=")


def test_connections_large_binary_post(gateway: RunningGateway, fakes: Fakes) -> None:
    api = emulator.client("apigatewaymanagementapi", f"http://127.0.0.1:{gateway.port}")
    with connect(gateway.ws_url, origin=ORIGIN) as ws:
        connection_id = fakes.routes("$connect")[0]["requestContext"]["connectionId"]
        data = bytes(range(256)) * 200
        api.post_to_connection(ConnectionId=connection_id, Data=data)
        assert ws.recv(5) == data


# ---- the demo blog -----------------------------------------------------------------------


def test_http_serves_pages_with_ws_url(gateway: RunningGateway) -> None:
    status, headers, body = http_get(f"http://127.0.0.1:{gateway.port}/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert body == f'<script data-endpoint="ws://127.0.0.1:{gateway.port}"></script>'.encode()


def test_http_pages_use_the_host_the_browser_used(gateway: RunningGateway) -> None:
    status, _, body = http_get(f"http://localhost:{gateway.port}/")
    assert status == 200 and f"ws://localhost:{gateway.port}".encode() in body


def test_http_dashboard_is_made_per_request(gateway: RunningGateway) -> None:
    for path in ("/dashboard", "/dashboard/", "/dashboard?x=1"):
        status, headers, body = http_get(f"http://127.0.0.1:{gateway.port}{path}")
        assert (status, body) == (200, b"<h1>numbers</h1>")
        assert headers["Content-Type"] == "text/html; charset=utf-8" and headers["Cache-Control"] == "no-store"
    request = urllib.request.Request(f"http://127.0.0.1:{gateway.port}/dashboard", method="POST", data=b"x")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 405


def test_http_unknown_path_is_404(gateway: RunningGateway) -> None:
    assert http_get(f"http://127.0.0.1:{gateway.port}/posts/absent")[0] == 404
    assert http_get(f"http://127.0.0.1:{gateway.port}/../Makefile")[0] == 404


def test_http_large_file_arrives_whole(gateway: RunningGateway) -> None:
    # websockets aborts the socket after a non-101 response; a big body must still arrive.
    (gateway.client_root / "demo" / "big.css").write_text("a" * 2_000_000)
    status, headers, body = http_get(f"http://127.0.0.1:{gateway.port}/big.css")
    assert status == 200 and len(body) == 2_000_000 and headers["Content-Type"].startswith("text/css")


# ---- API Gateway's connection limits -----------------------------------------------------


class FakeClock:
    """The gateway's clock for the limit tests, moved by hand: no test waits ten minutes."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked(fakes: Fakes, clock: FakeClock) -> Iterator[RunningGateway]:
    """A gateway with AWS's limits on a clock the test moves, checked when the test says."""
    running = RunningGateway(fakes.handlers(), clock=clock)
    yield running
    running.stop()


def test_expiry_is_the_idle_deadline_while_young() -> None:
    assert expiry(opened=0, active=100, limits=Limits()) == 700


def test_expiry_is_the_two_hour_limit_however_active() -> None:
    assert expiry(opened=0, active=7000, limits=Limits()) == 7200


def assert_going_away(ws: Any, fakes: Fakes) -> None:
    """The client was closed with 1001 and `$disconnect` said so, as API Gateway does."""
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(5)
    assert closed.value.rcvd is not None and (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "Going away")
    (event,) = wait_until(lambda: fakes.routes("$disconnect"), 5, "$disconnect")
    context = event["requestContext"]
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (1001, "Going away")


@pytest.mark.parametrize(
    "limits",
    [Limits(idle_seconds=0.2), Limits(idle_seconds=600, max_seconds=0.2)],
    ids=["idle_timeout", "two_hour_limit"],
)
def test_limit_closes_the_connection_by_itself(fakes: Fakes, limits: Limits) -> None:
    running = RunningGateway(fakes.handlers(), limits=limits)
    try:
        with connect(running.ws_url, origin=ORIGIN) as ws:
            assert_going_away(ws, fakes)
    finally:
        running.stop()


def test_idle_connection_closed_after_ten_minutes(clocked: RunningGateway, fakes: Fakes, clock: FakeClock) -> None:
    with connect(clocked.ws_url, origin=ORIGIN) as ws:
        clock.now += 599
        assert clocked.expire() == []
        clock.now += 1
        assert len(clocked.expire()) == 1
        assert_going_away(ws, fakes)


@pytest.mark.parametrize("direction", ["message_and_reply", "post_to_connection"])
def test_idle_timer_restarts_on_a_frame_either_way(
    clocked: RunningGateway, fakes: Fakes, clock: FakeClock, direction: str
) -> None:
    api = emulator.client("apigatewaymanagementapi", f"http://127.0.0.1:{clocked.port}")
    with connect(clocked.ws_url, origin=ORIGIN) as ws:
        connection_id = fakes.routes("$connect")[0]["requestContext"]["connectionId"]
        clock.now += 500
        if direction == "message_and_reply":
            ws.send('{"message":"stats"}')
        else:
            api.post_to_connection(ConnectionId=connection_id, Data=b'{"message":"counts"}')
        ws.recv(5)
        clock.now += 599

        assert clocked.expire() == [], "active 599 s ago: not idle yet"
        ws.send('{"message":"stats"}')
        assert json.loads(ws.recv(5))["route"] == "stats"


def test_two_hour_limit_closes_a_busy_connection(clocked: RunningGateway, fakes: Fakes, clock: FakeClock) -> None:
    with connect(clocked.ws_url, origin=ORIGIN) as ws:
        for _ in range(13):  # a frame every 9 minutes, for 117 minutes
            clock.now += 540
            ws.send('{"message":"stats"}')
            ws.recv(5)
            assert clocked.expire() == []
        clock.now += 7200 - 13 * 540
        assert len(clocked.expire()) == 1
        assert_going_away(ws, fakes)
