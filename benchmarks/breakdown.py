"""Where a warm sync execution's latency goes, one request at a time.

Starts the real server with timers wrapped around its steps (nothing in `emulator/` changes: this
script wraps the functions when it starts the server), runs sequential executions of a hello
function on one keep-alive `httpx` connection, and prints the medians of each step next to the
client's latency and a request that runs no function (`GET /v1/health/version`):

- app: from the request reaching the app (uvicorn has parsed it) to the response sent;
- before the worker: origin, key, parameters, the cached function and deployment, the record
  started, the variables, a worker from the pool;
- worker round trip: the request written to the worker's pipe until its reply is read (the
  adapter's own work plus two process wake-ups);
- reply to result: the reply decoded and handed back to the execution;
- record: the finished record written and committed (SQLite);
- after the record: log line, event, the execution model and its JSON, until the response starts;
- sending: the response through the middleware and onto the socket.

Run: `.venv/bin/python benchmarks/breakdown.py [--language python] [--calls 2000]`.
"""

from __future__ import annotations

import argparse
import atexit
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

SPANS = (
    "app",
    "before worker",
    "worker round trip",
    "reply to result",
    "record",
    "after the record",
    "sending",
)


def serve_with_timers(report_path: str, argv: list[str]) -> None:
    """The server (`emulator.cli`) with timers around its steps; writes the medians (µs) to
    `report_path` as it exits."""
    import emulator.cli as cli
    from emulator.executor import workers
    from emulator.store import executions

    spans: dict[str, list[float]] = {name: [] for name in SPANS}
    marks: dict[str, float] = {}
    call, reply, save = (
        workers.Worker.call,
        workers.Worker._on_reply_data,
        executions.ExecutionStore.save,
    )

    async def timed_call(self, request):  # type: ignore[no-untyped-def]
        marks["call"] = time.perf_counter()
        try:
            return await call(self, request)
        finally:
            marks["called"] = time.perf_counter()

    def timed_reply(self, data):  # type: ignore[no-untyped-def]
        marks["reply"] = time.perf_counter()
        return reply(self, data)

    async def timed_save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        marks["save"] = time.perf_counter()
        try:
            return await save(self, *args, **kwargs)
        finally:
            marks["saved"] = time.perf_counter()

    workers.Worker.call = timed_call  # type: ignore[method-assign]
    workers.Worker._on_reply_data = timed_reply  # type: ignore[method-assign]
    executions.ExecutionStore.save = timed_save  # type: ignore[method-assign]

    class Timed:
        def __init__(self, app):  # type: ignore[no-untyped-def]
            self.app = app

        async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] != "http" or not scope["path"].endswith("/executions"):
                return await self.app(scope, receive, send)
            marks.clear()
            began = time.perf_counter()

            async def timed_send(message):  # type: ignore[no-untyped-def]
                if message["type"] == "http.response.start":
                    marks["respond"] = time.perf_counter()
                await send(message)

            await self.app(scope, receive, timed_send)
            ended = time.perf_counter()
            if {"call", "reply", "called", "save", "saved", "respond"} <= marks.keys():
                for name, value in zip(
                    SPANS,
                    (
                        ended - began,
                        marks["call"] - began,
                        marks["reply"] - marks["call"],
                        marks["save"] - marks["reply"],
                        marks["saved"] - marks["save"],
                        marks["respond"] - marks["saved"],
                        ended - marks["respond"],
                    ),
                    strict=True,
                ):
                    spans[name].append(value)

    create_app = cli.create_app

    def with_timer(*args, **kwargs):  # type: ignore[no-untyped-def]
        app = create_app(*args, **kwargs)
        app.add_middleware(Timed)  # the outermost of the app's own middleware
        return app

    cli.create_app = with_timer  # type: ignore[assignment]

    def report() -> None:
        medians = {name: statistics.median(v) * 1e6 for name, v in spans.items() if v}
        Path(report_path).write_text(json.dumps(medians))

    atexit.register(report)
    sys.argv = ["appwrite-emulator", *argv]
    cli.run()


def main() -> int:
    if sys.argv[1:2] == ["--serve"]:
        serve_with_timers(sys.argv[2], sys.argv[3:])
        return 0
    import executions
    import harness

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--language", default="python")
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "spans.json"
        program = (str(Path(__file__).resolve()), "--serve", str(report))
        with harness.emulator(Path(tmp) / "data", program=program) as server:
            target, _ = executions.deploy_language(server, args.language)
            body = {"data": "warm"}
            harness.sequential(server.http, target.path, body, 300)
            client = harness.sequential(server.http, target.path, body, args.calls)
            health = []
            for _ in range(500):
                began = time.perf_counter()
                server.http.get("/health/version")
                health.append((time.perf_counter() - began) * 1000)
        spans = json.loads(report.read_text())  # written as the server stopped
    print(
        f"{args.language}: client p50 {client.p50 * 1000:.0f} µs for an execution, "
        f"{statistics.median(health) * 1000:.0f} µs for GET /v1/health/version"
    )
    for name, micros in spans.items():
        print(f"  {name:<20} {micros:>5.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
