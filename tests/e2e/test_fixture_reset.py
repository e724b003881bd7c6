"""`POST /v1/emulator/reset` and the snapshot routes on a real emulator with real workers: what is
gone, what comes back, what stays warm, and that nothing from before a reset writes into the
project afterwards."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

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


def test_a_sync_execution_is_listed_while_it_runs(emu: AppwriteEmulator) -> None:
    """A sync execution's record is written once it has run 50 ms (a faster one is written
    once, finished): a longer one is listed as `processing` meanwhile."""
    emu.deploy("sleep", SLEEP, "main.py")
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(emu.execute, "sleep", {"seconds": 0.6})
        listed = wait_for(lambda: emu.functions.list_executions("sleep")["executions"] or None)
        assert [e["status"] for e in listed] == ["processing"]
        done = answer.result()
    assert done["status"] == "completed" and done["$id"] == listed[0]["$id"]
    assert status(emu, "sleep", done["$id"]) == "completed"


def test_a_sync_execution_running_across_a_reset_leaves_no_record(emu: AppwriteEmulator) -> None:
    emu.deploy("sleep", SLEEP, "main.py")
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(emu.execute, "sleep", {"seconds": 0.6})
        wait_for(lambda: total(emu, "sleep") == 1)
        emu.reset(keep_functions=True)
        assert answer.result()["status"] == "completed"  # its caller still gets the answer
    assert total(emu, "sleep") == 0


def names(emu: AppwriteEmulator) -> list[str]:
    return [f["$id"] for f in emu.functions.list()["functions"]]


def test_the_snapshot_routes_need_the_key_and_a_snapshot() -> None:
    with AppwriteEmulator() as fresh:
        headers = {"X-Appwrite-Project": fresh.project_id, "X-Appwrite-Key": fresh.api_key}
        take, restore = (f"{fresh.endpoint}/emulator/snapshot{end}" for end in ("", "/restore"))
        for url in (take, restore):
            guest = httpx.post(url, headers={"X-Appwrite-Project": fresh.project_id})
            assert_appwrite_error(guest, 401, "general_unauthorized_scope")
        early = httpx.post(restore, headers=headers)
        body = assert_appwrite_error(early, 400, "general_argument_invalid")
        assert body["message"].startswith("No snapshot to restore")
        assert (httpx.post(take, headers=headers).status_code, b"") == (204, b"")
        done = httpx.post(restore, headers=headers)
        assert (done.status_code, done.content) == (204, b"")


def test_a_restore_leaves_what_the_test_did_not_touch_warm(emu: AppwriteEmulator) -> None:
    emu.deploy("counter", COUNTER, "main.py", variables={"KEY": "session"})
    assert count(emu.execute("counter")) == 1
    emu.snapshot()
    workers = descendants(os.getpid())
    assert [count(emu.execute("counter")) for _ in range(2)] == [2, 3]
    emu.restore()
    # The execution from before the snapshot stays; those of the test are gone.
    assert emu.functions.list_executions("counter")["total"] == 1
    assert count(emu.execute("counter")) == 4  # the same warm worker, its module state kept
    assert descendants(os.getpid()) == workers


def test_what_the_test_created_goes_with_its_workers_and_files(emu: AppwriteEmulator) -> None:
    emu.deploy("counter", COUNTER, "main.py")
    emu.execute("counter")
    emu.snapshot()
    workers = descendants(os.getpid())
    created = emu.deploy("created", COUNTER, "main.py", variables={"KEY": "new"})
    emu.execute("created")
    assert descendants(os.getpid()) - workers, "the created function has a warm worker"
    emu.restore()
    assert names(emu) == ["counter"]
    with pytest.raises(EmulatorError, match="function_not_found"):
        emu.request("GET", "/functions/created/variables")
    wait_for(lambda: descendants(os.getpid()) == workers, timeout=10)
    data = emu.data_dir
    assert not (data / "uploads" / created["$id"]).exists()
    assert not (data / "builds" / created["buildId"]).exists()
    wait_for(lambda: not any((data / "trash").iterdir()), timeout=10)
    assert count(emu.execute("counter")) == 2  # still warm


def test_a_new_deployment_of_a_kept_function_is_undone(emu: AppwriteEmulator) -> None:
    first = emu.deploy("counter", COUNTER, "main.py")
    emu.snapshot()
    emu.deploy("counter", SLEEP, "main.py", create=False)
    assert "slept" in emu.execute("counter", {"seconds": 0})["response"]
    emu.restore()
    assert emu.functions.get("counter")["deployment"] == first["$id"]
    deployments = emu.functions.list_deployments("counter")["deployments"]
    assert [d["$id"] for d in deployments] == [first["$id"]]
    # Its workers were stopped when the other deployment took over; new ones stay warm again.
    assert [count(emu.execute("counter")) for _ in range(2)] == [1, 2]


def test_a_deleted_function_comes_back_built_again(emu: AppwriteEmulator) -> None:
    deployment = emu.deploy("counter", COUNTER, "main.py", variables={"KEY": "value"})
    emu.execute("counter")
    emu.snapshot()
    emu.functions.delete("counter")
    emu.restore()
    assert emu.functions.get("counter")["deployment"] == deployment["$id"]
    variables = emu.functions.list_variables("counter")["variables"]
    assert [(v["key"], v["value"]) for v in variables] == [("KEY", "value")]
    assert emu.functions.list_executions("counter")["total"] == 1
    # Its workers stopped with the deletion: new ones, on the rebuilt code, kept warm.
    assert [count(emu.execute("counter")) for _ in range(2)] == [1, 2]


def test_a_full_reset_inside_the_test_is_undone(emu: AppwriteEmulator) -> None:
    emu.deploy("counter", COUNTER, "main.py")
    emu.deploy("sleep", SLEEP, "main.py")
    emu.snapshot()
    emu.reset()
    assert names(emu) == []
    emu.restore()
    assert names(emu) == ["counter", "sleep"]
    assert [count(emu.execute("counter")) for _ in range(2)] == [1, 2]
    assert emu.execute("sleep", {"seconds": 0})["response"] == "slept 0.0"


def test_changed_settings_come_back_with_their_schedule_from_now(emu: AppwriteEmulator) -> None:
    emu.deploy("counter", COUNTER, "main.py", schedule="0 * * * *", timeout=20)
    emu.snapshot()
    update = {"name": "Renamed", "execute": [], "schedule": "", "timeout": 5, "enabled": False}
    emu.request("PUT", "/functions/counter", update)
    emu.advance_clock(3 * 3600)  # no run: the schedule is cleared
    emu.restore()
    fn = emu.functions.get("counter")
    settings = (fn["name"], fn["execute"], fn["schedule"], fn["timeout"], fn["enabled"])
    assert settings == ("counter", ["any"], "0 * * * *", 20, True)
    now = emu.request("GET", "/emulator/clock")["now"]
    assert now < fn["scheduleNext"]  # not the hour it had before the clock moved
    assert fn["scheduleNext"][14:] == "00:00.000+00:00"
    time.sleep(0.3)  # a run the restore made due would have started by now
    assert total(emu, "counter") == 0
    fired = emu.advance_clock(3600)["executions"]
    assert [e["trigger"] for e in fired] == ["schedule"]


def test_restored_subscriptions_hear_events_and_the_restore_runs_nobody(
    emu: AppwriteEmulator,
) -> None:
    emu.deploy("counter", COUNTER, "main.py")
    emu.deploy("listener", COUNTER, "main.py", events=["functions.counter.executions.*.create"])
    emu.deploy("auditor", COUNTER, "main.py", events=["functions.*.create", "functions.*.delete"])
    emu.snapshot()
    emu.functions.delete("listener")
    emu.execute("counter")  # nobody listens now: the dispatcher notes that
    time.sleep(0.3)
    emu.restore()
    time.sleep(0.3)  # what the restore's own events could have started would show by now
    assert total(emu, "auditor") == 0
    emu.execute("counter")
    wait_for(lambda: total(emu, "listener") == 1, timeout=10)
