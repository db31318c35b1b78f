"""`python -m local`: the whole pipeline on one machine, with no AWS account.

Order matters: the gateway's port is bound first (with --port 0 its number is only
known then, and the allowed origins name it), the emulator and its resources come
next, then the handlers' environment, and only then are the handlers loaded and their
clients created (`Functions.load`, `_warm_handler_clients`): the first client or
invocation reads the settings, which are then kept for the process
(handlers/settings.py). Importing a module reads no environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import TextIO

import boto3

from handlers import aws, live
from handlers.origins import OriginError, normalise_origin
from handlers.referrer_spam import SpamListError, normalise_host, spam_hosts_json
from handlers.signing import check_secret
from handlers.wiring import (
    DEFAULT_LIVE_INTERVAL_SECONDS,
    ENV_CONNECTIONS_ENDPOINT,
    ENV_LIVE_INTERVAL,
    ENV_POST_SECRETS,
    ENV_REFERRER_SPAM,
    ENV_VIEWS_PER_CONNECTION,
    MAX_LIVE_INTERVAL_SECONDS,
    WIRING,
    Wiring,
    with_live_interval,
)
from local import dashboard, emulator, in_process
from local.functions import Functions, log
from local.gateway import AWS_LIMITS, DynamicPage, Gateway, Limits
from local.launcher import ready_line
from local.pollers import FailureDestination, QueuePoller, StreamPoller, failure_queue_feed
from local.refusals import RefusalTee, cloudwatch_recorder
from local.routing import STAGE
from report.settings import StackSettings

DEFAULT_PORT = 8787
STOP_SECONDS = 3.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local",
        description="The blog analytics stack on one machine: AWS emulator, WebSocket gateway, demo blog.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface of the gateway (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="gateway port; 0 picks a free one")
    parser.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        type=allowed_origin,
        metavar="URL",
        help="an Origin admitted by $connect besides the gateway's own (repeatable)",
    )
    parser.add_argument("--aws-port", type=int, default=0, help="emulator port on 127.0.0.1; 0 picks a free one")
    parser.add_argument(
        "--live-interval",
        type=live_interval,
        default=DEFAULT_LIVE_INTERVAL_SECONDS,
        metavar="SECONDS",
        help=f"liveIntervalSeconds: at most one push per target this often; 0 turns live counts off "
        f"(default {DEFAULT_LIVE_INTERVAL_SECONDS})",
    )
    for option, default, what in (
        ("--idle-timeout", AWS_LIMITS.idle_seconds, "close a connection this long without a data frame"),
        ("--max-connection", AWS_LIMITS.max_seconds, "close every connection this long after it opened"),
    ):
        parser.add_argument(
            option, type=seconds, default=default, metavar="SECONDS", help=f"{what}, as API Gateway does ({default:g})"
        )
    parser.add_argument(
        "--referrer-spam",
        action="append",
        default=[],
        type=spam_host,
        metavar="HOST",
        help="a referrer host (and its subdomains) never counted, as the referrerSpam stack setting (repeatable)",
    )
    parser.add_argument(
        "--views-per-connection",
        type=int,
        default=0,
        metavar="N",
        help="views one connection may send before rate_limited, as the viewsPerConnection stack setting "
        "(default 0: no budget)",
    )
    parser.add_argument(
        "--post-secret",
        action="append",
        default=[],
        type=post_secret,
        metavar="SECRET",
        help="sign posts: refuse post views without a valid articleSig made with this secret "
        "(give two while rotating; the postSigningSecret stack settings)",
    )
    return parser.parse_args(argv)


def live_interval(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of seconds") from None
    if not 0 <= seconds <= MAX_LIVE_INTERVAL_SECONDS:
        raise argparse.ArgumentTypeError(f"must be 0..{MAX_LIVE_INTERVAL_SECONDS}")
    return seconds


def seconds(value: str) -> float:
    """A positive, finite number of seconds (shorter limits show the client's reconnects sooner)."""
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return number


def post_secret(value: str) -> str:
    try:
        return check_secret(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"the secret {exc}") from None


def spam_host(value: str) -> str:
    """A --referrer-spam host in the form the views function compares."""
    try:
        return normalise_host(value)
    except SpamListError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def allowed_origin(value: str) -> str:
    """An --allowed-origin in the normal form $connect compares; a bad one stops here, not in the handlers."""
    try:
        return normalise_origin(value)
    except OriginError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} {exc}") from None


def url_host(host: str) -> str:
    """A host as it appears in a URL: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host


def own_origins(host: str, port: int) -> list[str]:
    """The demo blog is served by the gateway itself: under either loopback name, and
    under the address it listens on (unless that is a wildcard no browser can use)."""
    origins = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    if host not in ("0.0.0.0", "[::]", "127.0.0.1", "localhost"):
        origins.append(f"http://{host}:{port}")
    return origins


def start_pollers(
    wiring: Wiring, resources: emulator.Resources, functions: Functions
) -> tuple[threading.Event, list[threading.Thread]]:
    stop = threading.Event()
    # One client per thread, all made here: creating boto3 clients is not thread-safe.
    threads: list[threading.Thread] = [
        QueuePoller(q, resources.queues[q.name], emulator.client("sqs", resources.endpoint), functions, stop)
        for q in wiring.queues
    ]
    threads += [
        StreamPoller(
            s,
            resources.streams[s.table],
            emulator.client("dynamodbstreams", resources.endpoint),
            functions,
            stop,
            FailureDestination(
                emulator.client("sqs", resources.endpoint), resources.failure_queues[s.failure_queue].url
            ),
        )
        for s in wiring.streams
    ]
    # The on-failure queues' repair consumers, fed like any queue.
    for s in wiring.streams:
        feed = failure_queue_feed(s)
        if feed is not None:
            queue = resources.failure_queues[s.failure_queue]
            threads.append(QueuePoller(feed, queue, emulator.client("sqs", resources.endpoint), functions, stop))
    for thread in threads:
        thread.start()
    return stop, threads


async def serve(
    functions: Functions,
    sock: socket.socket,
    ws_url: str,
    ready: str,
    out: TextIO,
    pages: Mapping[str, DynamicPage],
    limits: Limits = AWS_LIMITS,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = await Gateway(functions, ws_url, pages=pages, limits=limits).start(sock)
    out.write(ready + "\n")
    out.flush()
    await stop.wait()
    log("info", "stopping")
    for sig in (signal.SIGINT, signal.SIGTERM):
        # A second signal (`timeout` signals its whole process group, an impatient
        # Ctrl-C) must not kill the bounded cleanup below half-way.
        loop.remove_signal_handler(sig)
        signal.signal(sig, signal.SIG_IGN)
    # Closing sends 1001 (going away) to every client, which runs their $disconnect.
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), STOP_SECONDS)
    except TimeoutError:
        log("warning", "connections_not_closed_in_time")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Until the event loop takes over the signals, SIGTERM interrupts start-up as
    # Ctrl-C does, so the cleanup below runs and the exit code is still 0.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _run(args)
    except KeyboardInterrupt:
        log("info", "stopped", during="start")
        return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run(args: argparse.Namespace) -> int:
    try:
        sock = socket.create_server((args.host, args.port))
    except OSError as exc:
        log("error", "cannot_listen", host=args.host, port=args.port, error=exc.strerror or str(exc))
        return 2
    port = int(sock.getsockname()[1])
    host = url_host(args.host)
    server, endpoint = emulator.start_server(args.aws_port)
    try:
        resources = emulator.create_resources(WIRING, endpoint)
        origins = [*args.allowed_origin, *own_origins(host, port)]
        emulator.apply_environment(
            emulator.handler_environment(endpoint, resources.topic_arn, origins)
            | {ENV_REFERRER_SPAM: spam_hosts_json(dict.fromkeys(args.referrer_spam))}
            | {ENV_POST_SECRETS: json.dumps(args.post_secret[:2])}
            | {ENV_VIEWS_PER_CONNECTION: str(args.views_per_connection)}
        )
        # The fan-out pushes through this gateway's @connections, under the stage as on AWS.
        connections_endpoint = f"http://{host}:{port}/{STAGE}"
        emulator.apply_environment(
            {ENV_CONNECTIONS_ENDPOINT: connections_endpoint, ENV_LIVE_INTERVAL: str(args.live_interval)}
        )
        # Handlers log to stdout (CloudWatch on AWS); here stdout carries only the
        # ready line, so a script can read it, and every log line goes to stderr, its
        # refusal lines also counted in the emulator's CloudWatch (local/refusals.py).
        refusals = RefusalTee(sys.stderr, cloudwatch_recorder(aws.client("cloudwatch"), emulator.STACK))
        out, sys.stdout = sys.stdout, refusals
        # Every client made from here on (the handlers' and the pollers') calls moto in
        # this process, not over HTTP (local/in_process.py); `aws=` still serves others.
        boto3.setup_default_session()
        in_process.install(boto3.DEFAULT_SESSION, endpoint)
        # liveIntervalSeconds 0 drops the live functions and $disconnect, as a deploy would.
        wiring = with_live_interval(WIRING, args.live_interval, views_budget=args.views_per_connection > 0)
        functions = Functions.load(wiring)
        _warm_handler_clients()
        live.management_client(connections_endpoint)
        poll_stop, threads = start_pollers(wiring, resources, functions)
        try:
            ready = ready_line(host, port, endpoint, emulator.STACK)
            # The owner's dashboard, read from the emulator as `python -m report` reads a stack.
            pages = {dashboard.PATH: dashboard.Dashboard(StackSettings(emulator.STACK, emulator.REGION, endpoint))}
            limits = Limits(idle_seconds=args.idle_timeout, max_seconds=args.max_connection)
            asyncio.run(serve(functions, sock, f"ws://{host}:{port}", ready, out, pages, limits))
        finally:
            poll_stop.set()
            for thread in threads:
                thread.join(STOP_SECONDS)
    finally:
        sock.close()
        server.stop()
    log("info", "stopped")
    return 0


def _warm_handler_clients() -> None:
    """Create the handlers' cached clients before any thread races to create them."""
    for service in ("dynamodb", "dynamodbstreams", "sns"):
        aws.client(service)


if __name__ == "__main__":
    sys.exit(main())
