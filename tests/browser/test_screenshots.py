"""Screenshots of the console's main pages, on a small but lively project. `make screenshots`
writes them to docs/screenshots/ (CONSOLE_SCREENSHOTS names the folder); otherwise they go to a
temporary folder, and the test still checks that every page renders without an error."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from emulator.testing import AppwriteEmulator
from tests.browser.conftest import PageErrors, console_url

FUNCTIONS = {
    "hello": (
        "Hello",
        "def main(req, res):\n    print('greeting', req.payload)\n"
        "    res.json({'hello': req.payload or 'world', 'tips': ['payload', 'variables']})\n",
        {},
    ),
    "heartbeat": (
        "Heartbeat",
        "def main(req, res):\n    res.json({'alive': True})\n",
        {"schedule": "*/5 * * * *"},
    ),
    "on-signup": (
        "On signup",
        "def main(req, res):\n    res.send('welcome')\n",
        {"events": ["users.*.create"]},
    ),
    "always-fails": ("Always fails", "def main(req, res):\n    raise ValueError('boom')\n", {}),
}
SCREENS = [
    ("functions", "functions", "Functions"),
    ("function-deployments", "functions/hello/deployments", "Hello"),
    ("function-executions", "functions/hello/executions", "Hello"),
    ("execution", None, "Execution"),
    ("function-settings", "functions/heartbeat/settings", "Heartbeat"),
    ("function-code", "functions/hello/code", "Hello"),
    ("emulator", "emulator", "Emulator"),
]


@pytest.fixture
def lively(tmp_path: Path) -> Iterator[AppwriteEmulator]:
    root = tmp_path / "project"
    listed = []
    for function_id, (name, code, extra) in FUNCTIONS.items():
        folder = root / "functions" / function_id
        folder.mkdir(parents=True)
        (folder / "main.py").write_text(code)
        listed.append(
            {
                "$id": function_id,
                "name": name,
                "runtime": "python-3.9",
                "path": f"functions/{function_id}",
                "entrypoint": "main.py",
                "execute": ["any"],
                **extra,
            }
        )
    listed[0]["variables"] = {"GREETING": "Howdy", "API_URL": "http://127.0.0.1:9000"}
    (root / "appwrite.json").write_text(json.dumps({"projectId": "demo", "functions": listed}))
    with AppwriteEmulator(root, runtimes=["python-3.9"]) as emu:
        for name in ("Ada", "Grace", "Linus"):
            emu.execute("hello", name)
        emu.execute("always-fails")
        emu.run_schedule("heartbeat")
        emu.fire_event("users.u1.create", {"name": "Ada"})
        yield emu


def test_screenshots_of_the_main_pages(
    lively: AppwriteEmulator, page: Any, page_errors: PageErrors, tmp_path: Path
) -> None:
    target = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path / "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    execution = lively.request("GET", "/functions/hello/executions")["executions"][0]["$id"]
    written = []
    for name, route, heading in SCREENS:
        page.goto(console_url(lively, route or f"functions/hello/executions/{execution}"))
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        expect(page.locator("#live-status")).to_have_text("Live")
        if name == "function-executions":
            page.get_by_label("Payload").fill('{"name": "Ada"}')
            page.get_by_role("button", name="Execute now").click()
            expect(page.locator(".execute-result .result")).to_have_attribute(
                "data-status", "completed"
            )
        if name == "function-settings":
            page_errors.allow(400)
            page.get_by_label("Schedule (CRON)").fill("every 5 minutes")
            page.get_by_role("button", name="Update").click()
            expect(page.locator(".field[data-field='schedule'] .field-error")).to_be_visible()
        if name == "function-code":
            expect(page.get_by_label("Contents of main.py")).to_be_visible()
        page.wait_for_load_state("networkidle")
        page.evaluate("document.activeElement && document.activeElement.blur()")
        path = target / f"{name}.png"
        page.screenshot(path=str(path), full_page=name != "function-code")
        written.append(path)
    assert all(p.stat().st_size > 10_000 for p in written)
