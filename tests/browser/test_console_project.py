"""The console beyond one local emulator: editing a project-mode function's code (hot reload
takes the save), paging through many executions, the key asked for on a network address, and
the live stream coming back after a restart."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from emulator.testing import AppwriteEmulator
from tests.browser.conftest import PageErrors, console_url, open_page

MAIN = "def main(req, res):\n    res.json({'version': 1})\n"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[AppwriteEmulator]:
    root = tmp_path / "project"
    folder = root / "functions" / "versioned"
    folder.mkdir(parents=True)
    (folder / "main.py").write_text(MAIN)
    functions = [
        {
            "$id": "versioned",
            "name": "Versioned",
            "runtime": "python-3.9",
            "path": "functions/versioned",
            "entrypoint": "main.py",
            "execute": ["any"],
        }
    ]
    (root / "appwrite.json").write_text(json.dumps({"projectId": "demo", "functions": functions}))
    with AppwriteEmulator(root, watch=True, runtimes=["python-3.9"]) as emulator:
        yield emulator


def test_edit_a_project_file_and_the_next_execution_runs_it(
    project: AppwriteEmulator, page: Any, tmp_path: Path
) -> None:
    page.goto(console_url(project, "functions/versioned/code"))
    editor = page.get_by_label("Contents of main.py")
    expect(editor).to_have_value(MAIN)
    first = project.request("GET", "/functions/versioned")["deployment"]
    editor.fill(MAIN.replace("'version': 1", "'version': 2"))
    editor.press("Control+s")  # the keyboard way to save
    expect(page.get_by_text("Saved main.py: deployment")).to_be_visible()
    assert "'version': 2" in (tmp_path / "project/functions/versioned/main.py").read_text()
    expect(page.locator(".deploy-state")).not_to_contain_text(first)
    expect(page.locator(".deploy-state .badge-accent")).to_have_text("Active")

    page.get_by_role("link", name="Executions").click()
    page.get_by_role("button", name="Execute now").click()
    response = page.locator(".execute-result pre.response")
    expect(response).to_contain_text('"version": 2')


def test_the_executions_table_pages_through_thousands(
    clean: AppwriteEmulator, page: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "main.py").write_text("def main(req, res):\n    res.send('ok')\n")
    clean.deploy("many", folder, "main.py", runtime="python-3.9")
    ids = [clean.execute("many")["$id"] for _ in range(60)]
    seen: list[str] = []
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/executions?" in r.url else None)
    page.goto(console_url(clean, "functions/many/executions"))
    for page_number in (1, 2, 3):
        expect(page.get_by_text(f"Page {page_number}", exact=True)).to_be_visible()
        rows = page.locator("#executions tbody tr")
        expect(rows.first).to_be_visible()
        seen += rows.evaluate_all("rows => rows.map(r => r.dataset.executionId)")
        if page_number < 3:
            page.get_by_role("button", name="Next page").click()
    assert seen == ids[::-1]  # newest first, each once, in pages of 25
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    assert requests
    assert all("limit(25)" in url.replace("%28", "(").replace("%29", ")") for url in requests)
    page.get_by_role("button", name="Previous page").click()
    expect(page.get_by_text("Executions 26–50 of 60")).to_be_visible()
    page.get_by_label("Status").select_option("failed")
    expect(page.get_by_text("No executions match these filters")).to_be_visible()


def test_on_a_network_address_the_console_asks_for_the_key(
    browser: Any, page_errors: PageErrors
) -> None:
    page_errors.allow(401)  # the wrong key
    with AppwriteEmulator(host="0.0.0.0") as emu:
        tab = open_page(browser, page_errors)
        try:
            tab.goto(console_url(emu))
            assert tab.locator('meta[name="emulator-key"]').get_attribute("content") == ""
            key = tab.get_by_label("API key")
            expect(key).to_be_focused()
            key.fill("not-the-key")
            key.press("Enter")
            expect(tab.get_by_text("This key is not the emulator's API key.")).to_be_visible()
            key.fill(emu.api_key)
            tab.get_by_role("button", name="Continue").click()
            expect(tab.get_by_role("heading", name="Functions", level=1)).to_be_visible()
            expect(tab.locator("#live-status")).to_have_text("Live")
            stored = tab.evaluate("[sessionStorage.length, localStorage.length, document.cookie]")
            assert stored == [1, 0, ""]
            tab.reload()  # the tab keeps it
            expect(tab.get_by_role("heading", name="Functions", level=1)).to_be_visible()
            tab.get_by_role("button", name="Forget key").click()
            expect(tab.get_by_label("API key")).to_be_visible()
            assert tab.evaluate("sessionStorage.length") == 0
        finally:
            tab.context.close()
    assert page_errors.errors == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_live_stream_comes_back_after_a_restart(
    browser: Any, page_errors: PageErrors, tmp_path: Path
) -> None:
    page_errors.allow(401)  # the old ticket, refused by the new process
    port = free_port()
    settings = {"data_dir": tmp_path / "data", "api_key": "restart-key", "port": port}
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "main.py").write_text("def main(req, res):\n    res.send('ok')\n")
    first = AppwriteEmulator(**settings).start()
    tab = open_page(browser, page_errors)
    try:
        first.deploy("survivor", folder, "main.py", runtime="python-3.9")
        tab.goto(console_url(first, "functions/survivor/executions"))
        expect(tab.locator("#live-status")).to_have_text("Live")
        first.stop()
        expect(tab.locator("#live-status")).to_have_text("Reconnecting…")
        second = AppwriteEmulator(**settings).start()
        try:
            expect(tab.locator("#live-status")).to_have_text("Live")
            second.execute("survivor")  # not by the page: it learns of it from the stream
            expect(tab.locator("#executions tbody tr")).to_have_count(1)
        finally:
            second.stop()
    finally:
        first.stop()
        tab.context.close()
    # The browser's own network errors while the emulator was down are not the page's errors.
    assert [e for e in page_errors.errors if "ERR_CONNECTION_REFUSED" not in e] == []
