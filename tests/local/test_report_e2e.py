"""The report end to end through `python -m local`: views sent, then `python -m report` and /dashboard."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from local_support import REPO, LocalStack, wait_until
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

pytestmark = pytest.mark.slow

PIPELINE_SECONDS = 60.0


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    running = LocalStack.start("--port", "0")
    yield running
    running.terminate()


def report(stack: LocalStack, *argv: str) -> dict[str, Any]:
    """`python -m report --json` against the stack's emulator, as the README tells the owner."""
    command = [sys.executable, "-m", "report", "--stack", stack.stack, "--endpoint-url", stack.aws_url, "--json"]
    done = subprocess.run([*command, *argv], cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def dashboard(stack: LocalStack) -> tuple[int, str]:
    with urllib.request.urlopen(f"{stack.origin}/dashboard", timeout=30) as response:
        return response.status, response.read().decode()


def test_report_e2e_fresh_stack_reports_nothing_and_serves_the_dashboard(stack: LocalStack) -> None:
    status, page = dashboard(stack)
    assert status == 200
    assert 'class="chart site-chart"' in page and 'http-equiv="refresh"' in page
    document = report(stack)
    assert (document["stack"], document["posts"], document["pages"], document["referrers"]) == ("local", [], [], [])


def send(stack: LocalStack, frames: list[dict[str, Any]]) -> None:
    with connect(stack.ws_url, origin=Origin(stack.origin), open_timeout=5) as ws:
        for frame in frames:
            ws.send(json.dumps({"message": "views", **frame}))
            assert json.loads(ws.recv(10))["status"] == "ok"


def test_report_e2e_counts_the_views_sent(stack: LocalStack) -> None:
    post = {"articleId": "e2e-report", "articleTitle": "E2E Report", "currentPage": "/posts/e2e-report"}
    referred = {**post, "referrer": "https://news.ycombinator.com/item?id=1"}
    send(stack, [post, post, {**post, "refreshed": True}, referred, {"currentPage": "/pages/about"}])
    today = datetime.now(UTC).date().isoformat()

    def counted() -> dict[str, Any] | None:
        document = report(stack, "--since", today, "--until", today)
        posts = {p["articleId"]: p for p in document["posts"]}
        pages = {p["page"]: p for p in document["pages"]}
        ours, about = posts.get("e2e-report"), pages.get("About_Page")
        # Posts and pages reach Series through different streams and consumers: wait for both.
        done = ours and ours["totalViews"] == 4 and about and about["totalViews"] == 1
        return document if done else None

    document = wait_until(counted, PIPELINE_SECONDS, "the report to count the post views and the page view")
    ours = next(p for p in document["posts"] if p["articleId"] == "e2e-report")
    assert (ours["articleTitle"], ours["totalViews"], ours["uniqueViews"]) == ("E2E Report", 4, 3)
    assert ours["series"] == [{"start": today, "totalViews": 4, "uniqueViews": 3}]
    about = next(p for p in document["pages"] if p["page"] == "About_Page")
    assert (about["totalViews"], about["uniqueViews"]) == (1, 1)
    wait_until(
        lambda: any(r["referrer"] == "https://news.ycombinator.com" for r in report(stack)["referrers"]),
        PIPELINE_SECONDS,
        "the referrer",
    )
    hn = next(r for r in report(stack)["referrers"] if r["referrer"] == "https://news.ycombinator.com")
    assert hn["targets"] == [{"articleId": "e2e-report", "views": 1}]
    status, page = dashboard(stack)
    assert status == 200 and 'data-post="e2e-report"' in page


GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def refused_today(stack: LocalStack) -> dict[str, int]:
    today = datetime.now(UTC).date().isoformat()
    refused = report(stack, "--since", today, "--until", today)["refused"]
    assert refused["error"] is None, refused["error"]
    return {r["reason"]: r["count"] for r in refused["reasons"]}


def test_report_e2e_shows_the_connections_refused_per_reason(stack: LocalStack) -> None:
    before = refused_today(stack)
    with pytest.raises(InvalidStatus):
        connect(stack.ws_url, origin=Origin(stack.origin), user_agent_header=GOOGLEBOT, open_timeout=5)
    with pytest.raises(InvalidStatus):
        connect(stack.ws_url, origin=Origin("https://evil.example"), user_agent_header=BROWSER, open_timeout=5)
    expected = {**before, "bot": before["bot"] + 1, "origin": before["origin"] + 1}
    wait_until(lambda: refused_today(stack) == expected, PIPELINE_SECONDS, f"the report to show {expected}")
    command = [sys.executable, "-m", "report", "--stack", stack.stack, "--endpoint-url", stack.aws_url]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    bot = next(line for line in done.stdout.splitlines() if line.strip().startswith("bot ($connect)"))
    assert bot.split()[2] == str(expected["bot"])
