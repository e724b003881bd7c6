"""Executions as they accumulate: the emulator's memory while one function runs 100,000 times, then
how fast its executions are listed with all of them stored.

Starts the real server (throw-away data dir), deploys a Python function that fails one call in a
hundred, and runs `--executions` sync executions over 16 keep-alive connections, printing the
emulator's RSS every tenth of the way. Then, with them stored, times `--calls` sequential requests
of each list the console and SDKs make: the first page (with `total`), newest first, a
`Query.equal("status", ...)` filter (rare and common value), and a `cursorAfter` page deep in the
list. `--fill direct` writes the rows straight into the database file instead of running them (a
fast way to get the history; no RSS figures then). Run: `.venv/bin/python benchmarks/history.py`.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import harness

SOURCE = """\
calls = 0

def main(req, res):
    global calls
    calls += 1
    if calls % 100 == 0:
        raise RuntimeError("one call in a hundred fails")
    res.json({"hello": req.payload})
"""
FUNCTION = "history"
LISTS = {
    "first page (with total)": [],
    "newest first": ['orderDesc("$createdAt")'],
    'equal("status", "failed") (1%)': ['equal("status", ["failed"])'],
    'equal("status", "completed") (99%)': ['equal("status", ["completed"])'],
    "cursorAfter deep in the list": None,  # filled in once the history exists
}


def fill_by_api(server: harness.Emulator, total: int) -> list[tuple[int, float]]:
    """Run `total` executions; the emulator's RSS after each tenth."""
    request = harness.request_bytes(
        f"/v1/functions/{FUNCTION}/executions", b'{"data":"x"}', harness.EMULATOR_HEADERS
    )
    samples = [(0, harness.rss_mb(server.pid))]
    step = max(1, total // 10)
    done = 0
    while done < total:
        count = min(step, total - done)
        result = harness.load(server.port, request, 16, count, expect=b"HTTP/1.1 201")
        if result.errors:
            raise RuntimeError(f"{result.errors} errors: {result.first_error}")
        done += count
        samples.append((done, harness.rss_mb(server.pid)))
        print(f"  {done:>7,} executions: RSS {samples[-1][1]:.1f} MB ({result.rate:.0f}/s)")
    return samples


def fill_directly(database: Path, total: int) -> None:
    """Copy the function's one execution `total - 1` times, straight into the file (server stopped)."""
    with sqlite3.connect(database) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(executions)") if r[1] != "seq"]
        copied = ", ".join(
            "lower(hex(randomblob(10)))"
            if c == "id"
            else "CASE WHEN n % 100 = 0 THEN 'failed' ELSE status END"
            if c == "status"
            else "strftime('%Y-%m-%dT%H:%M:%f', substr(created_at, 1, 23), '+' || n || ' seconds')"
            " || '+00:00'"
            if c in ("created_at", "updated_at")
            else c
            for c in columns
        )
        conn.execute(
            f"INSERT INTO executions ({', '.join(columns)}) "
            f"WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < ?) "
            f"SELECT {copied} FROM executions, k WHERE function_id = ?",
            [total - 1, FUNCTION],
        )


def timed_list(
    server: harness.Emulator, queries: list[str], calls: int
) -> tuple[float, float, int]:
    """p50 and p99 (ms) of `calls` list requests, and the `total` they answered."""
    latencies = []
    total = -1
    for _ in range(calls):
        began = time.perf_counter()
        response = server.http.get(
            f"/functions/{FUNCTION}/executions", params={"queries[]": queries}
        )
        latencies.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
        total = response.json()["total"]
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1], total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=200, help="requests per list (200)")
    parser.add_argument("--fill", choices=("api", "direct"), default="api")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        samples: list[tuple[int, float]] = []
        with harness.emulator(data) as server:
            server.deploy(FUNCTION, "python-3.9", "main.py", SOURCE)
            if args.fill == "api":
                print(f"running {args.executions:,} executions (16 clients):")
                samples = fill_by_api(server, args.executions)
            else:
                server.http.post(f"/functions/{FUNCTION}/executions").raise_for_status()
        if args.fill == "direct":
            fill_directly(data / "emulator.sqlite3", args.executions)
        with sqlite3.connect(data / "emulator.sqlite3") as conn:
            stored = conn.execute("SELECT COUNT(*) FROM executions").fetchone()[0]
            deep = conn.execute(
                "SELECT id FROM executions ORDER BY seq LIMIT 1 OFFSET ?", [stored * 9 // 10]
            ).fetchone()[0]
        LISTS["cursorAfter deep in the list"] = [f'cursorAfter("{deep}")']
        with harness.emulator(data) as server:  # a fresh process: nothing cached from the runs
            figures = {}
            print(f"{stored:,} executions stored; {args.calls} sequential requests per list:")
            for name, queries in LISTS.items():
                assert queries is not None
                server.http.get(f"/functions/{FUNCTION}/executions", params={"queries[]": queries})
                p50, p99, total = timed_list(server, queries, args.calls)
                figures[name] = {"p50_ms": p50, "p99_ms": p99, "total": total}
                print(f"  {name:36} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  (total {total})")
            rss_after = harness.rss_mb(server.pid)
    if samples:
        warm = [mb for count, mb in samples if count >= args.executions // 10]
        print(
            f"emulator RSS: {samples[0][1]:.1f} MB at start, {samples[-1][1]:.1f} MB after "
            f"{samples[-1][0]:,} executions (range after the first tenth: "
            f"{min(warm):.1f}-{max(warm):.1f} MB)"
        )
    print(f"emulator RSS after the lists (restarted on the same data): {rss_after:.1f} MB")
    print(json.dumps({"lists": figures, "rss": samples}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
