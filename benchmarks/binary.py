"""The one-file binary: its size and its start-up time.

Start-up is the time from starting the process to the first 200 answer of `GET /v1/health/version`,
serving an empty project folder (polled every millisecond), over three runs; beside it, the CPU time
the process tree had used by then (the bootloader, the emulator and the interpreter probes it ran),
which other load on the machine does not inflate. The same is measured for the console script of
the development virtualenv (`.venv/bin/appwrite-emulator`) when it exists, as the reference. Build the binary first (`make binary`), then run:
`.venv/bin/python benchmarks/binary.py [--binary dist/appwrite-emulator] [--runs 3]`.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/v1/health/version")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its descendants, children already reaped included (Linux /proc)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        # utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the command name.
        total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def start_up(command: str, timeout: float = 30.0) -> tuple[float, float]:
    """Seconds from exec to the first 200 of the health endpoint, and the CPU seconds used by
    then; the server is stopped after."""
    with tempfile.TemporaryDirectory() as project:
        port = free_port()
        argv = [command, "serve", project, "--port", str(port), "--no-watch"]
        began = time.perf_counter()
        server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            while not answers(port):
                if server.poll() is not None:
                    err = server.stderr.read().decode() if server.stderr else ""
                    sys.exit(f"{command} exited with code {server.returncode}:\n{err}")
                if time.perf_counter() - began > timeout:
                    sys.exit(f"{command} did not answer within {timeout:.0f} s")
                time.sleep(0.001)
            return time.perf_counter() - began, cpu_seconds(server.pid)
        finally:
            # SIGTERM to the bootloader is passed on to the emulator, which then exits cleanly
            # and lets the bootloader remove its extraction folder.
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=15)


def report(label: str, command: str, runs: int) -> None:
    results = [start_up(command) for _ in range(runs)]
    for name, values in (
        ("start-up to first 200", [wall for wall, _ in results]),
        ("CPU time by then", [cpu for _, cpu in results]),
    ):
        shown = ", ".join(f"{v * 1000:.0f}" for v in values)
        print(f"{label}: {name} {shown} ms (median {statistics.median(values) * 1000:.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(ROOT / "dist" / "appwrite-emulator"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    binary = Path(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary} not found: build it with `make binary`")
    print(f"{binary}: {binary.stat().st_size / 1e6:.1f} MB")
    report("binary", str(binary), args.runs)
    script = ROOT / ".venv" / "bin" / "appwrite-emulator"
    if script.exists():
        report("reference, .venv console script", str(script), args.runs)


if __name__ == "__main__":
    main()
