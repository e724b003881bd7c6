"""Browser tests: Debian's Chromium (/usr/bin/chromium) driven by Playwright for Python against a
real emulator served from this process. Nothing is downloaded; without Chromium they are skipped.

Every page collects `pageerror`s and console errors: any of them fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.testing import AppwriteEmulator

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000

if not CHROMIUM.exists():
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for tests/browser. Package scope, not session: Playwright's sync API keeps an
    event loop running in this thread while it is open, which would break every later test that
    runs its own loop."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="package")
def emu() -> Iterator[AppwriteEmulator]:
    """One emulator for the browser tests; each test starts from an empty project."""
    with AppwriteEmulator() as emulator:
        yield emulator


@pytest.fixture
def clean(emu: AppwriteEmulator) -> AppwriteEmulator:
    emu.reset()
    return emu


class PageErrors:
    """What went wrong in a tab: JavaScript errors, console errors, and HTTP errors the test did
    not announce. The browser logs every 4xx/5xx answer as a console error ("Failed to load
    resource"); a test that provokes one on purpose (a bad cron: 400) says so with `allow`."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: set[int] = set()

    def allow(self, *statuses: int) -> None:
        self.allowed.update(statuses)

    def on_console(self, message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console.{message.type}: {message.text}")

    def on_response(self, response: Any) -> None:
        if response.status >= 400 and response.status not in self.allowed:
            self.errors.append(f"HTTP {response.status}: {response.request.method} {response.url}")


def open_page(browser: Any, errors: PageErrors, **context: Any) -> Any:
    ctx = browser.new_context(viewport={"width": 1360, "height": 900}, **context)
    tab = ctx.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    tab.on("pageerror", lambda exc: errors.errors.append(f"pageerror: {exc}"))
    tab.on("console", errors.on_console)
    tab.on("response", errors.on_response)
    return tab


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(browser: Any, page_errors: PageErrors) -> Iterator[Any]:
    """A fresh browser tab; the test fails if the page reported any error."""
    tab = open_page(browser, page_errors)
    try:
        yield tab
    finally:
        tab.context.close()
    assert page_errors.errors == [], page_errors.errors


def console_url(emu: AppwriteEmulator, route: str = "") -> str:
    return f"{emu.endpoint.removesuffix('/v1')}/console{'#/' + route if route else ''}"
