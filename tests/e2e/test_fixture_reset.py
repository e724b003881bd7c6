"""`POST /v1/emulator/reset` on a real emulator with real workers: what is gone, what stays warm,
and that nothing from before the reset writes into the project afterwards."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from emulator.testing import AppwriteEmulator, EmulatorError
from tests.conftest import assert_appwrite_error
from tests.e2e.test_fixture import COUNTER, SLEEP, count, descendants
from tests.support import wait_for


@pytest.fixture(autouse=True)
def _empty(emu: AppwriteEmulator) -> None:
    emu.reset()


def test_only_the_api_key_may_reset(emu: AppwriteEmulator) -> None:
    url = f"{emu.endpoint}/emulator/reset"
    guest = httpx.post(url, headers={"X-Appwrite-Project": emu.project_id})
    assert_appwrite_error(guest, 401, "general_unauthorized_scope")
    headers = {"X-Appwrite-Project": emu.project_id, "X-Appwrite-Key": emu.api_key}
    bad = httpx.post(url, headers=headers, json={"keepFunctions": "maybe"})
    assert_appwrite_error(bad, 400, "general_argument_invalid")
    ok = httpx.post(url, headers=headers, json={"keepFunctions": True})
    assert (ok.status_code, ok.content) == (204, b"")
    assert httpx.post(url, headers=headers).status_code == 204  # no body: a full reset


def test_full_reset_empties_the_project_and_stops_its_workers(emu: AppwriteEmulator) -> None:
    before = descendants(os.getpid())
    emu.deploy("counter", COUNTER, "main.py", variables={"KEY": "value"})
    assert [count(emu.execute("counter")) for _ in range(2)] == [1, 2]
    assert descendants(os.getpid()) - before
    emu.reset()
    assert emu.functions.list()["total"] == 0
    with pytest.raises(EmulatorError, match="function_not_found"):
        emu.request("GET", "/functions/counter/executions")
    wait_for(lambda: descendants(os.getpid()) == before, timeout=10)
    data = emu.data_dir
    assert not (data / "uploads").exists() and not (data / "builds").exists()
    wait_for(lambda: not any((data / "trash").iterdir()), timeout=10)
    # The same ID again: a new function, on a new worker (module state starts over).
    emu.deploy("counter", COUNTER, "main.py")
    assert count(emu.execute("counter")) == 1
    assert emu.functions.list_variables("counter")["total"] == 0


def test_keep_functions_clears_executions_and_keeps_workers_warm(emu: AppwriteEmulator) -> None:
    deployment = emu.deploy("counter", COUNTER, "main.py")
    assert [count(emu.execute("counter")) for _ in range(2)] == [1, 2]
    emu.reset(keep_functions=True)
    assert emu.functions.list_executions("counter")["total"] == 0
    assert emu.functions.get("counter")["deployment"] == deployment["$id"]
    assert count(emu.execute("counter")) == 3  # the same warm worker


def status(emu: AppwriteEmulator, function_id: str, execution_id: str) -> str:
    return str(emu.request("GET", f"/functions/{function_id}/executions/{execution_id}")["status"])


def total(emu: AppwriteEmulator, function_id: str) -> int:
    return int(emu.functions.list_executions(function_id)["total"])


def test_an_execution_in_flight_never_writes_after_the_reset(emu: AppwriteEmulator) -> None:
    emu.deploy("sleep", SLEEP, "main.py")
    # `watcher` runs whenever an async execution of `sleep` finishes (its update event).
    emu.deploy("watcher", COUNTER, "main.py", events=["functions.sleep.executions.*.update"])
    emu.execute("sleep", {"seconds": 0}, async_=True)
    wait_for(lambda: total(emu, "watcher") == 1)
    emu.reset(keep_functions=True)

    queued = emu.execute("sleep", {"seconds": 0.4}, async_=True, wait=False)
    wait_for(lambda: status(emu, "sleep", queued["$id"]) == "processing")
    emu.reset(keep_functions=True)
    time.sleep(0.6)  # past the moment it would have finished
    assert (total(emu, "sleep"), total(emu, "watcher")) == (0, 0)
    with pytest.raises(EmulatorError, match="execution_not_found"):
        status(emu, "sleep", queued["$id"])
    assert emu.execute("sleep", {"seconds": 0})["response"] == "slept 0.0"  # on a new worker
