"""The emulator under sustained load and killed under load.

1. Load: `--executions` (10,000) sync executions over `--clients` (50) keep-alive connections to a
   Python and a Node hello function; prints errors, latency, and the emulator's RSS, open
   descriptors, workers and zombies before and after.
2. `kill -9` rounds (`--rounds`, 3): a function that takes 20 ms is executed asynchronously by 16
   clients; after `--kill-after` seconds the server gets SIGKILL mid-load. Then: processes left
   behind, the database's integrity check, and after a restart on the same data every accepted
   (202) execution must be recorded, none stuck in `waiting`/`processing` (the ones that did not
   finish are marked failed).

Run: `.venv/bin/python benchmarks/soak.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import harness
from executions import HELLO

SLOW = "import time\n\ndef main(req, res):\n    time.sleep(0.02)\n    res.send('done')\n"


def load_round(args: argparse.Namespace) -> dict[str, object]:
    languages = ["python"] + (["node"] if shutil.which("node") else [])
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp, harness.emulator(Path(tmp) / "data") as server:
        for language in languages:
            runtime, entrypoint, source = HELLO[language]
            server.deploy(f"hello-{language}", runtime, entrypoint, source)
            server.http.post(f"/functions/hello-{language}/executions").raise_for_status()
        time.sleep(0.5)
        before = harness.tree(server.pid)
        print(f"before: {before.line()}")
        for language in languages:
            request = harness.request_bytes(
                f"/v1/functions/hello-{language}/executions",
                b'{"data":"soak"}',
                harness.EMULATOR_HEADERS,
            )
            result = harness.load(
                server.port, request, args.clients, args.executions, expect=b"HTTP/1.1 201"
            )
            print(
                f"{language:6} {args.executions:,} sync executions, {args.clients} clients: "
                f"{result.errors} errors, p50 {result.p50:.0f} ms, p99 {result.pct(0.99):.0f} ms, "
                f"max {max(result.latencies):.0f} ms, {result.rate:.0f}/s"
            )
            if result.first_error:
                print(f"       first error: {result.first_error[:300]}")
            figures[language] = {
                "errors": result.errors,
                "p50_ms": result.p50,
                "p99_ms": result.pct(0.99),
                "max_ms": max(result.latencies),
                "rate": result.rate,
            }
        time.sleep(0.5)
        after = harness.tree(server.pid)
        print(f"after:  {after.line()}")
        figures["before"] = before.__dict__
        figures["after"] = after.__dict__
    return figures


async def async_load(port: int, clients: int, accepted: list[str], stop: asyncio.Event) -> int:
    """Post async executions until `stop` or the server dies; the IDs of the 202s go to `accepted`.
    Returns how many requests got no answer (the server died under them)."""
    request = harness.request_bytes(
        "/v1/functions/slow/executions", b'{"async":true}', harness.EMULATOR_HEADERS
    )
    unanswered = 0

    async def client() -> None:
        nonlocal unanswered
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return
        try:
            while not stop.is_set():
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
                if not head.startswith(b"HTTP/1.1 202"):
                    raise RuntimeError(f"unexpected answer: {head[:40]!r} {body[:200]!r}")
                accepted.append(json.loads(body)["$id"])
        except (OSError, asyncio.IncompleteReadError):
            unanswered += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return unanswered


def leftovers(data_dir: Path) -> list[int]:
    """Processes still running something of this data dir (workers, builds)."""
    found = []
    for proc in Path("/proc").iterdir():
        pid = int(proc.name) if proc.name.isdigit() else 0
        if pid and str(data_dir) in harness.command(pid) and harness.state(pid) not in "ZX?":
            found.append(pid)
    return found


def kill_round(number: int, args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        (data / "project").mkdir(parents=True)
        server = harness.start_emulator(data)
        accepted: list[str] = []
        try:
            server.deploy("slow", "python-3.9", "main.py", SLOW)

            async def run() -> int:
                stop = asyncio.Event()
                task = asyncio.ensure_future(async_load(server.port, 16, accepted, stop))
                await asyncio.sleep(args.kill_after)
                server.kill()  # SIGKILL, mid-load
                killed_at = time.monotonic()
                unanswered = await task
                stop.set()
                print(f"  (load clients noticed within {time.monotonic() - killed_at:.2f} s)")
                return unanswered

            unanswered = asyncio.run(run())
        finally:
            server.http.close()
            if server.process.poll() is None:
                server.kill()
        deadline = time.monotonic() + 10
        while leftovers(data) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = leftovers(data)
        with sqlite3.connect(data / "emulator.sqlite3") as conn:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        restarted = harness.start_emulator(data)
        try:
            time.sleep(0.2)
            with sqlite3.connect(data / "emulator.sqlite3") as conn:
                rows = conn.execute("SELECT id, status, stderr FROM executions").fetchall()
        finally:
            restarted.http.close()
            restarted.process.terminate()
            restarted.process.wait(timeout=30)
    recorded = {row[0]: row[1] for row in rows}
    lost = [i for i in accepted if i not in recorded]
    stuck = sum(status in ("waiting", "processing") for status in recorded.values())
    interrupted = sum("stopped before this execution finished" in row[2] for row in rows)
    completed = sum(status == "completed" for status in recorded.values())
    print(
        f"round {number}: {len(accepted):,} accepted (202), {len(recorded):,} recorded, "
        f"{len(lost)} lost, {stuck} stuck, {completed:,} completed, {interrupted} marked failed "
        f"as interrupted; {unanswered} requests cut off by the kill; integrity {integrity}; "
        f"{len(left)} processes left behind"
    )
    return {
        "accepted": len(accepted),
        "recorded": len(recorded),
        "lost": len(lost),
        "stuck": stuck,
        "completed": completed,
        "interrupted": interrupted,
        "integrity": integrity,
        "left_behind": len(left),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="kill -9 rounds (3)")
    parser.add_argument("--kill-after", type=float, default=3.0, help="seconds of load (3)")
    args = parser.parse_args()
    load = load_round(args) if args.executions else {}
    kills = [kill_round(n + 1, args) for n in range(args.rounds)]
    print(json.dumps({"load": load, "kills": kills}))
    load_errors = [v for v in load.values() if isinstance(v, dict) and v.get("errors")]
    bad_kills = [
        k for k in kills if k["lost"] or k["stuck"] or k["integrity"] != "ok" or k["left_behind"]
    ]
    return 1 if load_errors or bad_kills else 0


if __name__ == "__main__":
    sys.exit(main())
