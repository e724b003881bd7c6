"""The console in a real browser: what a user does with it, end to end, live."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from emulator.testing import AppwriteEmulator
from tests.browser.conftest import PageErrors, console_url
from tests.support import pack

HELLO = "def main(req, res):\n    res.json({'hello': req.payload, 'greeting': req.variables.get('GREETING')})\n"
SLOW = "import time\n\ndef main(req, res):\n    time.sleep(0.8)\n    res.json({'slept': True})\n"


def python_runtime(emu: AppwriteEmulator) -> str:
    runtimes = emu.request("GET", "/functions/runtimes")["runtimes"]
    return next(r["$id"] for r in runtimes if r["$id"].startswith("python-"))


def deploy(emu: AppwriteEmulator, tmp_path: Path, function_id: str, code: str, **kw: Any) -> None:
    folder = tmp_path / function_id
    folder.mkdir()
    (folder / "main.py").write_text(code)
    emu.deploy(function_id, folder, "main.py", runtime=python_runtime(emu), **kw)


def test_create_upload_build_and_execute(
    clean: AppwriteEmulator, page: Any, tmp_path: Path
) -> None:
    emu = clean
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "main.py").write_text(HELLO)
    archive = tmp_path / "code.tar.gz"
    archive.write_bytes(pack(folder))

    page.goto(console_url(emu))
    expect(page.get_by_role("heading", name="Functions", level=1)).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("Live")
    page.get_by_role("link", name="Create function").first.click()
    page.get_by_label("Function ID").fill("greeter")
    page.get_by_label("Name").fill("Greeter")
    page.get_by_label("Runtime").select_option(python_runtime(emu))
    page.get_by_role("button", name="Create").click()

    expect(page.get_by_role("heading", name="Greeter", level=1)).to_be_visible()
    assert page.url.endswith("#/functions/greeter/deployments")
    page.get_by_label("Code archive (.tar.gz)").set_input_files(str(archive))
    page.get_by_label("Entrypoint").fill("main.py")
    page.get_by_role("button", name="Create deployment").click()
    # The build finishes in the background: the row turns ready, live, and becomes the active one.
    row = page.locator("tr[data-deployment-id]").first
    expect(row).to_have_attribute("data-status", "ready")
    expect(row.get_by_text("Active", exact=True)).to_be_visible()

    page.get_by_role("link", name="Executions").click()
    page.get_by_label("Payload").fill("Ada")
    page.get_by_role("button", name="Execute now").last.click()
    result = page.locator(".execute-result .result")
    expect(result).to_have_attribute("data-status", "completed")
    expect(result.locator(".status-code")).to_have_text("200")
    response = json.loads(result.locator("pre.response").inner_text())
    assert response == {"hello": "Ada", "greeting": None}
    # The table shows it too, without a reload.
    expect(page.locator("#executions tbody tr")).to_have_count(1)


def test_an_async_execution_moves_to_completed_live(
    clean: AppwriteEmulator, page: Any, tmp_path: Path
) -> None:
    deploy(clean, tmp_path, "sleeper", SLOW)
    page.goto(console_url(clean, "functions/sleeper/executions"))
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Async").check()
    page.get_by_role("button", name="Execute now").last.click()
    result = page.locator(".execute-result .result")
    expect(result).to_have_attribute("data-status", re.compile("waiting|processing"))
    row = page.locator("#executions tbody tr").first
    expect(row).to_have_attribute("data-status", re.compile("waiting|processing"))
    expect(row).to_have_attribute("data-status", "completed")
    expect(result).to_have_attribute("data-status", "completed")
    assert json.loads(result.locator("pre.response").inner_text()) == {"slept": True}
    assert page.evaluate("window.__sameDocument") is True  # no page load happened


def test_edit_a_variable(clean: AppwriteEmulator, page: Any, tmp_path: Path) -> None:
    deploy(clean, tmp_path, "greeter", HELLO, variables={"GREETING": "Hi"})
    page.goto(console_url(clean, "functions/greeter/variables"))
    page.get_by_role("button", name="Edit variable GREETING").click()
    page.get_by_label("Value").first.fill("Howdy")
    page.get_by_role("button", name="Save").click()
    row = page.locator("tr[data-key='GREETING']")
    expect(row.locator("code.value")).to_have_text("Howdy")
    variables = clean.request("GET", "/functions/greeter/variables")["variables"]
    assert [(v["key"], v["value"]) for v in variables] == [("GREETING", "Howdy")]
    # A new one, through the form under the table.
    page.get_by_role("form", name="Create variable").get_by_label("Key").fill("MODE")
    page.get_by_role("form", name="Create variable").get_by_label("Value").fill("test")
    page.get_by_role("button", name="Create variable").click()
    expect(page.locator("tr[data-key='MODE'] code.value")).to_have_text("test")


def test_a_bad_cron_shows_the_1_3_message_next_to_the_field(
    clean: AppwriteEmulator, page: Any, page_errors: PageErrors, tmp_path: Path
) -> None:
    page_errors.allow(400)
    deploy(clean, tmp_path, "greeter", HELLO)
    page.goto(console_url(clean, "functions/greeter/settings"))
    schedule = page.get_by_label("Schedule (CRON)")
    schedule.fill("every minute")
    page.get_by_role("button", name="Update").click()
    error = page.locator(".field[data-field='schedule'] .field-error")
    expect(error).to_have_text("Invalid schedule: String must be a valid cron expression")
    expect(schedule).to_have_attribute("aria-invalid", "true")
    expect(schedule).to_be_focused()
    assert clean.request("GET", "/functions/greeter")["schedule"] == ""
    schedule.fill("*/5 * * * *")
    page.get_by_role("button", name="Update").click()
    expect(error).to_be_hidden()
    expect(page.locator(".toast").last).to_have_text("Settings updated")
    assert clean.request("GET", "/functions/greeter")["schedule"] == "*/5 * * * *"


def test_fire_an_event_that_runs_a_subscribed_function(
    clean: AppwriteEmulator, page: Any, page_errors: PageErrors, tmp_path: Path
) -> None:
    page_errors.allow(400)  # the bad event name first
    deploy(clean, tmp_path, "on-signup", HELLO, events=["users.*.create"])
    page.goto(console_url(clean, "emulator"))
    form = page.get_by_role("form", name="Fire an event")
    form.get_by_label("Event").fill("users.u1.explode")
    form.get_by_role("button", name="Fire event").click()
    expect(form.locator(".field[data-field='event'] .field-error")).to_have_text(
        "Invalid event: Event is not valid."
    )
    form.get_by_label("Event").fill("users.u1.create")
    form.get_by_label("Payload (JSON object)").fill('{"name": "Ada"}')
    form.get_by_role("button", name="Fire event").click()
    expect(form.get_by_text("1 function(s) started")).to_be_visible()
    form.locator("li[data-execution-id] a").click()
    expect(page.get_by_role("heading", name="Execution", level=1)).to_be_visible()
    expect(page.locator(".facts-grid")).to_contain_text("event")
    expect(page.locator(".facts-grid .badge")).to_have_text("completed")


def test_reset_asks_first_and_works_from_the_keyboard(
    clean: AppwriteEmulator, page: Any, tmp_path: Path
) -> None:
    deploy(clean, tmp_path, "greeter", HELLO)
    page.goto(console_url(clean, "emulator"))
    reset = page.get_by_role("button", name="Reset project")
    reset.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Reset project")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")  # says no
    expect(dialog).to_have_count(0)
    assert clean.request("GET", "/functions")["total"] == 1
    reset.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_role("dialog").get_by_role("button", name="Reset")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".toast").last).to_have_text("Project reset")
    assert clean.request("GET", "/functions")["total"] == 0


@pytest.mark.parametrize(
    "route",
    [
        "functions",
        "functions/create",
        "functions/greeter/deployments",
        "functions/greeter/executions",
        "functions/greeter/variables",
        "functions/greeter/settings",
        "emulator",
    ],
)
def test_every_control_has_a_label(
    clean: AppwriteEmulator, page: Any, tmp_path: Path, route: str
) -> None:
    """Keyboard and screen-reader users reach every control by its name."""
    if "greeter" in route:
        deploy(clean, tmp_path, "greeter", HELLO, variables={"A": "1"})
    page.goto(console_url(clean, route))
    expect(page.locator("main h1")).to_be_visible()
    page.wait_for_load_state("networkidle")
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('main input, main select, main textarea, main button, main a')]
            .filter((el) => {
              if (el.closest('[hidden]')) return false;
              if (['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName)) return el.labels.length === 0;
              return !(el.getAttribute('aria-label') || el.textContent.trim());
            })
            .map((el) => el.outerHTML.slice(0, 120))"""
    )
    assert unnamed == []
    # Every one of them is reachable with Tab (no positive tabindex, nothing taken out of order).
    assert (
        page.evaluate(
            'document.querySelectorAll(\'[tabindex]:not([tabindex="-1"]):not([tabindex="0"])\').length'
        )
        == 0
    )
