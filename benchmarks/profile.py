"""Where an execution's time goes: py-spy samples of the server (and of one warm worker) while
16 keep-alive clients run a Python hello function. Prints each process's hottest frames by
share of samples ("self" = in the frame itself, "total" = in it or what it calls) and the CPU
each process used per execution. Needs py-spy (the `test` extra) and permission to trace
(root, or ptrace_scope 0). Run: `.venv/bin/python benchmarks/profile.py [--seconds 10]`.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import executions
import harness

NATIVE: list[str] = []


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "500",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarize(path: Path, top: int, label: str) -> None:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    print(f"\n== {label}: {samples} samples")
    print("-- self")
    for frame, n in own.most_common(top):
        print(f"{100 * n / samples:5.1f}%  {frame}")
    by_file: collections.Counter[str] = collections.Counter()
    for frame, n in own.items():
        where = frame.rpartition("(")[2].split(":")[0]
        by_file[where] += n
    print("-- self, by file")
    for where, n in by_file.most_common(top):
        print(f"{100 * n / samples:5.1f}%  {where}")
    print("-- total")
    for frame, n in total.most_common(top * 2):
        print(f"{100 * n / samples:5.1f}%  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--language", default="python")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--native", action="store_true", help="C frames too (py-spy --native)")
    args = parser.parse_args()
    if args.native:
        NATIVE.append("--native")
    with tempfile.TemporaryDirectory() as tmp, harness.emulator(Path(tmp) / "data") as server:
        target, _ = executions.deploy_language(server, args.language)
        for _ in range(200):
            server.http.post(target.path, json={"data": "warm"})
        workers = [
            pid
            for pid in harness.descendants(server.pid)
            if args.language in harness.command(pid) and "sandbox_init" not in harness.command(pid)
        ]
        server_out = Path(tmp) / "server.txt"
        worker_out = Path(tmp) / "worker.txt"
        spies = [record(server.pid, args.seconds, server_out)]
        if workers and args.language == "python":
            spies.append(record(workers[-1], args.seconds, worker_out))
        time.sleep(0.5)
        cpu_before = {pid: cpu_seconds(pid) for pid in [server.pid, *workers]}
        done = threading.Event()
        result: list[harness.Load] = []

        def drive() -> None:
            while not done.is_set():
                result.append(harness.load(server.port, target.request, args.clients, 2000))

        thread = threading.Thread(target=drive)
        began = time.perf_counter()
        thread.start()
        for spy in spies:
            spy.wait()
        done.set()
        thread.join()
        wall = time.perf_counter() - began
        count = sum(len(r.latencies) for r in result)
        print(f"{count} executions in {wall:.1f} s: {count / wall:.0f}/s")
        for pid, before in cpu_before.items():
            used = cpu_seconds(pid) - before
            who = "server" if pid == server.pid else f"worker {pid}"
            print(f"{who}: {1e6 * used / count:.0f} µs CPU per execution")
        summarize(server_out, args.top, "server")
        if worker_out.exists():
            summarize(worker_out, args.top, "worker")
    return 0


if __name__ == "__main__":
    sys.exit(main())
