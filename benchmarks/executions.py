"""Execution speed of the real server next to a bare function server, measured in the same run.

Starts `python -m emulator serve` (throw-away data dir) and deploys a hello function per language;
starts Google's `functions-framework --asgi` (the `test` extra installs it) serving the same hello
function. Each is measured with the same clients and load: warm sync latency over sequential calls
on one keep-alive `httpx` connection, throughput with 16 keep-alive connections, and 10,000 requests
over 50 connections (latency percentiles, errors). Prints absolute figures and the ratios the
README's Performance section reports. Run: `.venv/bin/python benchmarks/executions.py`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import harness
import httpx

# language -> (runtime, entrypoint, source): each a hello function answering {"hello": payload}.
HELLO = {
    "python": (
        "python-3.9",
        "main.py",
        "def main(req, res):\n    res.json({'hello': req.payload})\n",
    ),
    "node": (
        "node-18.0",
        "index.js",
        "module.exports = async (req, res) => { res.json({ hello: req.payload }); };\n",
    ),
}
INTERPRETERS = {"python": "python3", "node": "node"}


def available_languages() -> list[str]:
    return [lang for lang in HELLO if shutil.which(INTERPRETERS.get(lang, lang))]


def measure(
    name: str,
    port: int,
    http: httpx.Client,
    path: str,
    request: bytes,
    args: argparse.Namespace,
) -> dict[str, float]:
    """Sequential latency, then throughput at `--clients`, then the `--load` run."""
    body = {"data": "warm"}
    for _ in range(20):  # warm the connection and whatever caches the server has
        http.post(path, json=body)
    warm = harness.sequential(http, path, body, args.calls)
    rate = harness.load(port, request, args.clients, args.calls * 3)
    figures = {
        "p50_ms": warm.p50,
        "p99_ms": warm.pct(0.99),
        "rate": rate.rate,
        "errors": warm.errors + rate.errors,
    }
    if args.load:
        heavy = harness.load(port, request, args.load_clients, args.load)
        figures.update(
            load_p50_ms=heavy.p50,
            load_p99_ms=heavy.pct(0.99),
            load_max_ms=max(heavy.latencies, default=float("nan")),
            load_rate=heavy.rate,
            load_errors=heavy.errors,
        )
        if heavy.first_error:
            print(f"{name}: first error under load: {heavy.first_error[:300]}", file=sys.stderr)
    return figures


def bench_language(
    server: harness.Emulator, language: str, args: argparse.Namespace
) -> dict[str, float]:
    runtime, entrypoint, source = HELLO[language]
    fn_id = f"hello-{language}"
    deploy_ms = server.deploy(fn_id, runtime, entrypoint, source) * 1000
    path = f"/functions/{fn_id}/executions"
    first_ms = timed_execution(server, path, language)
    # A deployment activated by hand (PATCH) gets no worker ahead: its first execution is a
    # true cold start (the sandbox, the interpreter, the function's import).
    deployment = server.upload(fn_id, entrypoint, source, activate=False)
    server.wait_built(fn_id, deployment)
    server.http.patch(f"/functions/{fn_id}/deployments/{deployment}").raise_for_status()
    cold_ms = timed_execution(server, path, language)
    request = harness.request_bytes(f"/v1{path}", b'{"data":"x"}', harness.EMULATOR_HEADERS)
    figures = measure(language, server.port, server.http, path, request, args)
    figures.update(deploy_ms=deploy_ms, first_ms=first_ms, cold_ms=cold_ms)
    return figures


def timed_execution(server: harness.Emulator, path: str, language: str) -> float:
    started = time.perf_counter()
    response = server.http.post(path, json={"data": "first"})
    elapsed = (time.perf_counter() - started) * 1000
    if response.json().get("statusCode") != 200:
        raise RuntimeError(f"{language}: the execution failed: {response.text}")
    return elapsed


def reference_points(server: harness.Emulator, calls: int) -> dict[str, float]:
    """What plain requests cost on the emulator with the same client (no execution)."""
    out = {}
    for name, path in (("health", "/health/version"), ("get_function", "/functions/hello-python")):
        latencies = []
        for _ in range(calls):
            began = time.perf_counter()
            server.http.get(path).raise_for_status()
            latencies.append((time.perf_counter() - began) * 1000)
        latencies.sort()
        out[name] = latencies[len(latencies) // 2]
    return out


def bench_peer(folder: Path, args: argparse.Namespace) -> dict[str, float]:
    with harness.functions_framework(folder) as port:
        request = harness.request_bytes("/", b'{"data":"x"}')
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            return measure("functions-framework", port, http, "/", request, args)


def report(
    results: dict[str, dict[str, float]], peer: dict[str, float] | None, args: argparse.Namespace
) -> None:
    rows = dict(results)
    if peer is not None:
        rows["ff"] = peer
    for name, r in rows.items():
        cold = (
            f"deploy->active {r['deploy_ms']:4.0f} ms, first execution {r['first_ms']:5.1f} ms, "
            f"cold start {r['cold_ms']:5.1f} ms | "
            if "cold_ms" in r
            else ""
        )
        line = (
            f"{name:6} {cold}warm p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms | "
            f"{args.clients} clients {r['rate']:6.0f}/s"
        )
        if "load_p50_ms" in r:
            line += (
                f" | {args.load_clients} clients x {args.load}: p50 {r['load_p50_ms']:.0f} ms "
                f"p99 {r['load_p99_ms']:.0f} ms max {r['load_max_ms']:.0f} ms "
                f"{r['load_rate']:.0f}/s, {r['load_errors']:.0f} errors"
            )
        print(line)
    if peer is None:
        return
    print("ratios to functions-framework (targets: p50 <= 1.5x, throughput >= 0.35x):")
    for name, r in results.items():
        line = (
            f"  {name:6} p50 {r['p50_ms'] / peer['p50_ms']:.2f}x, "
            f"{args.clients}-client throughput {r['rate'] / peer['rate']:.2f}x"
        )
        if "load_p99_ms" in r:
            line += (
                f", load p99 / own warm p50 {r['load_p99_ms'] / r['p50_ms']:.1f}x (target <= 10x)"
            )
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000, help="sequential warm calls (1000)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--load", type=int, default=10000, help="requests of the load run (10000)")
    parser.add_argument("--load-clients", type=int, default=50, help="its clients (50)")
    parser.add_argument("--languages", default=",".join(available_languages()))
    parser.add_argument("--no-peer", action="store_true", help="skip functions-framework")
    args = parser.parse_args()
    languages = [lang for lang in args.languages.split(",") if lang]
    with tempfile.TemporaryDirectory() as tmp:
        peer = None
        if not args.no_peer:
            if harness.peer_binary() is None:
                print("functions-framework is not installed: no ratios", file=sys.stderr)
            else:
                peer = bench_peer(Path(tmp), args)
        with harness.emulator(Path(tmp) / "data") as server:
            before = harness.tree(server.pid)
            results = {lang: bench_language(server, lang, args) for lang in languages}
            refs = reference_points(server, 200) if "python" in results else {}
            after = harness.tree(server.pid)
    print(f"emulator at start:      {before.line()}")
    print(f"emulator after the run: {after.line()}")
    print(f"worker RSS: {', '.join(f'{mb:.1f}' for mb in after.worker_rss_mb)} MB")
    if refs:
        print(
            f"same client, no execution: GET /health/version p50 {refs['health']:.2f} ms, "
            f"GET /functions/{{id}} p50 {refs['get_function']:.2f} ms"
        )
    report(results, peer, args)
    print(json.dumps({"results": results, "functions_framework": peer, "reference": refs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
