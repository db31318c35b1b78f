"""Fixtures for the browser tests: headless Debian Chromium (never a downloaded browser)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local import launcher

sync_api = pytest.importorskip("playwright.sync_api")

from .support import (  # noqa: E402
    AS_A_PERSON,
    CHROMIUM,
    CHROMIUM_ARGS,
    START_SECONDS,
    FakeGateway,
    Site,
    Stack,
    Tab,
    person_user_agent,
)


# Package scope, not session: playwright's sync API keeps an asyncio loop running in
# the main thread while it is open, and later suites call asyncio.run().
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_tab(browser: Any) -> Iterator[Callable[..., Tab]]:
    """Opens pages in fresh contexts; fails the test if any exception reached a page."""
    contexts: list[Any] = []
    tabs: list[Tab] = []

    def open_tab(init_script: str | None = None, person: bool = False) -> Tab:
        """`person=True`: Chromium as a person's browser looks (support.AS_A_PERSON); by default
        it shows that it is automated, as headless Chromium does (HeadlessChrome, webdriver)."""
        context = browser.new_context(user_agent=person_user_agent(browser.version) if person else None)
        contexts.append(context)
        if person:
            context.add_init_script(AS_A_PERSON)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        tab = Tab(page)
        page.on("console", lambda msg: tab.console.append(msg.text))
        page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
        tabs.append(tab)
        return tab

    yield open_tab
    for context in contexts:
        context.close()
    for tab in tabs:
        assert tab.errors == [], f"an exception reached the page: {tab.errors}"


@pytest.fixture
def tab(new_tab: Callable[..., Tab]) -> Tab:
    return new_tab()


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    server = FakeGateway()
    yield server
    server.stop()


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    """`python -m local --port 0`, started once for the browser tests that need it and
    stopped with SIGTERM. It counts from zero: each test counts its own keys."""
    log = Path(tempfile.mkstemp(prefix="local-stack-", suffix=".log")[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log.open("w") as stderr:
        try:
            process, ready = launcher.launch(env=env, stderr=stderr, timeout=START_SECONDS)
        except RuntimeError as exc:
            pytest.fail(f"{exc}\n{log.read_text()}")
    yield Stack(**vars(ready), process=process, log=log)
    with contextlib.suppress(subprocess.TimeoutExpired):
        launcher.stop(process, 10)
    log.unlink(missing_ok=True)
