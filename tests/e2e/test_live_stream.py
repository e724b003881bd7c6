"""The live stream under /v1/emulator/stream, through a real server: every emitted event, build
results and execution status changes arrive as server-sent events, opened with the key or with a
short-lived ticket (what a browser's EventSource can send)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.testing import AppwriteEmulator
from tests.conftest import assert_appwrite_error

SLOW = "import time\n\ndef main(req, res):\n    time.sleep(0.3)\n    res.json({'ok': True})\n"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppwriteEmulator]:
    folder = tmp_path_factory.mktemp("slow")
    (folder / "main.py").write_text(SLOW)
    with AppwriteEmulator() as emulator:
        emulator.deploy("slow", folder, "main.py")
        yield emulator


class Reader:
    """Reads a stream in a thread; `messages` fills as events arrive."""

    def __init__(self, emu: AppwriteEmulator, url: str, headers: dict[str, str]) -> None:
        self.messages: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self.status = 0
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=30))
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                self.status = response.status_code
                if response.status_code != 200:
                    self.ready.set()
                    return
                event = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        if event == "ready":
                            self.ready.set()
                        else:
                            self.messages.append(json.loads(line[6:]))
                    elif not line:
                        event = ""
        except httpx.HTTPError:
            pass

    def wait_for(self, name: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in list(self.messages):
                if name in message["events"]:
                    return message
            time.sleep(0.02)
        raise AssertionError(f"{name} not streamed; got {[m['events'][0] for m in self.messages]}")

    def close(self) -> None:
        self._client.close()
        self._thread.join(5)


def headers_of(emu: AppwriteEmulator) -> dict[str, str]:
    return {"X-Appwrite-Project": emu.project_id, "X-Appwrite-Key": emu.api_key}


def base(emu: AppwriteEmulator) -> str:
    return emu.endpoint.removesuffix("/v1")


def test_execution_status_changes_stream_live(emu: AppwriteEmulator) -> None:
    reader = Reader(emu, f"{emu.endpoint}/emulator/stream", headers_of(emu))
    try:
        assert reader.ready.wait(10)
        queued = emu.execute("slow", async_=True, wait=False)
        prefix = f"functions.slow.executions.{queued['$id']}"
        created = reader.wait_for(f"{prefix}.create")
        assert created["payload"]["status"] == "waiting"
        assert "functions.*.executions.*.create" in created["events"]  # expanded as 1.3 does
        statuses = []
        deadline = time.monotonic() + 10
        while "completed" not in statuses and time.monotonic() < deadline:
            statuses = [
                m["payload"]["status"] for m in reader.messages if f"{prefix}.update" in m["events"]
            ]
            time.sleep(0.02)
        assert statuses == ["processing", "completed"]
    finally:
        reader.close()


def test_a_build_result_streams(emu: AppwriteEmulator, tmp_path: Path) -> None:
    reader = Reader(emu, f"{emu.endpoint}/emulator/stream", headers_of(emu))
    try:
        assert reader.ready.wait(10)
        (tmp_path / "main.py").write_text(SLOW)
        deployment = emu.deploy("slow", tmp_path, "main.py", create=False)
        name = f"functions.slow.deployments.{deployment['$id']}.update"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done = [m for m in reader.messages if name in m["events"]]
            if any(m["payload"].get("status") == "ready" for m in done):
                break
            time.sleep(0.02)
        assert [m["payload"]["status"] for m in done if "status" in m["payload"]][-1] == "ready"
        reader.wait_for("functions.slow.update")  # the activation
    finally:
        reader.close()


def test_a_ticket_opens_the_stream_without_the_key(emu: AppwriteEmulator) -> None:
    ticket = httpx.post(f"{emu.endpoint}/emulator/stream/tickets", headers=headers_of(emu))
    assert ticket.status_code == 201
    body = ticket.json()
    assert list(body) == ["ticket", "expiresIn"]
    assert emu.api_key not in ticket.text
    url = f"{emu.endpoint}/emulator/stream?project={emu.project_id}&ticket={body['ticket']}"
    reader = Reader(emu, url, {})
    try:
        assert reader.ready.wait(10)
        assert reader.status == 200
        emu.execute("slow")
        reader.wait_for("functions.slow.executions.*.create")
    finally:
        reader.close()


def test_the_stream_refuses_guests_and_wrong_tickets(emu: AppwriteEmulator) -> None:
    url = f"{emu.endpoint}/emulator/stream"
    guest = httpx.get(url, params={"project": emu.project_id})
    assert_appwrite_error(guest, 401, "general_unauthorized_scope")
    wrong = httpx.get(url, params={"project": emu.project_id, "ticket": "made-up"})
    assert_appwrite_error(wrong, 401, "general_unauthorized_scope")
    other = httpx.get(url, params={"project": "other", "ticket": "made-up"})
    assert_appwrite_error(other, 404, "project_not_found")
    no_ticket_for_guests = httpx.post(
        f"{emu.endpoint}/emulator/stream/tickets", headers={"X-Appwrite-Project": emu.project_id}
    )
    assert_appwrite_error(no_ticket_for_guests, 401, "general_unauthorized_scope")


def test_stopping_the_emulator_ends_open_streams(caplog: pytest.LogCaptureFixture) -> None:
    """An open stream does not hold the shutdown up until the server's grace period runs out
    (uvicorn would then cancel it and say so)."""
    emulator = AppwriteEmulator().start()
    reader = Reader(emulator, f"{emulator.endpoint}/emulator/stream", headers_of(emulator))
    try:
        assert reader.ready.wait(10)
        with caplog.at_level(logging.INFO, logger="uvicorn.error"):
            emulator.stop()
    finally:
        emulator.stop()
        reader.close()
    assert not [r for r in caplog.records if "graceful shutdown exceeded" in r.getMessage()]
    assert not [r for r in caplog.records if "Waiting for connections to close" in r.getMessage()]
