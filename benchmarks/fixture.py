"""The emulator as a test fixture: start-up time and reset time.

Prints the time from `AppwriteEmulator().start()` to its first answered request (the first start
in the process, then the median of later ones); the time of `reset()` as a client sees it with 20
functions deployed and warm: full, and with `keep_functions`; and, with the same 20 functions, the
pytest plugin's default isolation: `snapshot()` when a test starts and `restore()` when it ends
(after a test that changed nothing, after a typical test, after a test that deleted a function,
which is then built again). Run: `.venv/bin/python benchmarks/fixture.py`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

STARTED = time.perf_counter()
from emulator.testing import AppwriteEmulator  # noqa: E402 - its import time is a figure

IMPORTED = time.perf_counter()
HELLO = "def main(req, res):\n    res.json({'hello': req.payload})\n"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def start_up(rounds: int) -> list[float]:
    """Seconds from start() to the first answered request, per round; emulators stopped after."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        emulator = AppwriteEmulator().start()
        emulator.request("GET", "/health/version")
        times.append(time.perf_counter() - began)
        emulator.stop()
    return times


def deploy_functions(emulator: AppwriteEmulator, folder: Path, count: int, warm: bool) -> None:
    for index in range(count):
        emulator.deploy(f"hello-{index}", folder, "main.py", "python-3.9")
        if warm:  # one execution each: a warm worker per function, and an execution to delete
            emulator.execute(f"hello-{index}", "warm")


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def resets(emulator: AppwriteEmulator, folder: Path, count: int, rounds: int) -> dict[str, float]:
    """Median milliseconds of each kind of reset, `count` functions deployed."""
    keep, full_cold, full_warm = [], [], []
    for _ in range(rounds):
        deploy_functions(emulator, folder, count, warm=False)
        full_cold.append(timed(emulator.reset))
        deploy_functions(emulator, folder, count, warm=True)
        keep.append(timed(lambda: emulator.reset(keep_functions=True)))
        full_warm.append(timed(emulator.reset))
        assert emulator.request("GET", "/functions")["total"] == 0
        time.sleep(0.2)  # let this round's workers finish exiting
    return {
        "keep_functions_ms": statistics.median(keep),
        "full_no_workers_ms": statistics.median(full_cold),
        "full_warm_workers_ms": statistics.median(full_warm),
    }


def isolation(
    emulator: AppwriteEmulator, folder: Path, count: int, rounds: int
) -> dict[str, float]:
    """Median milliseconds of `snapshot()` and of `restore()` after different tests, `count`
    functions deployed, each with a warm worker."""
    deploy_functions(emulator, folder, count, warm=True)
    snapshot, idle, typical, deleted = [], [], [], []
    for _ in range(rounds):
        snapshot.append(timed(emulator.snapshot))
        idle.append(timed(emulator.restore))
        # A typical test: executions, a new variable, a changed setting, a new function with a
        # deployment and a warm worker.
        emulator.execute("hello-0", "test")
        emulator.execute("hello-1", "test", async_=True)
        emulator.request("POST", "/functions/hello-2/variables", {"key": "K", "value": "v"})
        settings = {"name": "Renamed", "execute": ["any"], "timeout": 5}
        emulator.request("PUT", "/functions/hello-3", settings)
        emulator.deploy("created", folder, "main.py", "python-3.9")
        emulator.execute("created", "test")
        typical.append(timed(emulator.restore))
        emulator.request("DELETE", "/functions/hello-4")
        deleted.append(timed(emulator.restore))
        assert emulator.request("GET", "/functions")["total"] == count
        time.sleep(0.2)  # let the removed function's worker finish exiting
    emulator.reset()
    return {
        "snapshot_ms": statistics.median(snapshot),
        "restore_unchanged_ms": statistics.median(idle),
        "restore_typical_ms": statistics.median(typical),
        "restore_deleted_function_ms": statistics.median(deleted),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--functions", type=int, default=20, help="functions deployed (default 20)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per figure (default 5)")
    args = parser.parse_args()
    first, *later = start_up(args.rounds + 1)
    print(f"import emulator.testing:          {ms(IMPORTED - STARTED)}")
    print(f"start-up to first answer, first:  {ms(first)}")
    print(f"start-up to first answer, median: {ms(statistics.median(later))}")
    with tempfile.TemporaryDirectory() as tmp, AppwriteEmulator() as emulator:
        folder = Path(tmp)
        (folder / "main.py").write_text(HELLO)
        figures = resets(emulator, folder, args.functions, args.rounds)
        figures |= isolation(emulator, folder, args.functions, args.rounds)
    n = args.functions
    print(
        f"reset(keep_functions=True), {n} functions + executions: {figures['keep_functions_ms']:.1f} ms"
    )
    print(f"reset(), {n} functions, no worker started:    {figures['full_no_workers_ms']:.1f} ms")
    print(
        f"reset(), {n} functions with a warm worker each: {figures['full_warm_workers_ms']:.1f} ms"
    )
    print(f"snapshot(), {n} functions:                     {figures['snapshot_ms']:.1f} ms")
    print(f"restore(), after a test that changed nothing: {figures['restore_unchanged_ms']:.1f} ms")
    print(f"restore(), after a typical test:              {figures['restore_typical_ms']:.1f} ms")
    print(
        "restore(), after a test deleted a function:   "
        f"{figures['restore_deleted_function_ms']:.1f} ms (built again)"
    )
    summary = {
        "import_ms": (IMPORTED - STARTED) * 1000,
        "start_first_ms": first * 1000,
        "start_median_ms": statistics.median(later) * 1000,
        **figures,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
