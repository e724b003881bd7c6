"""Execution speed of the real server next to a bare function server, measured in the same run.

Starts `python -m emulator serve` (throw-away data dir) and deploys a hello function in every
language with a local interpreter (Python, Node, PHP, Ruby, Deno);
starts Google's `functions-framework --asgi` (the `test` extra installs it) serving the same hello
function. Each is measured with the same clients and load: warm sync latency over sequential calls
on one keep-alive `httpx` connection, throughput with 16 keep-alive connections, and 10,000 requests
over 50 connections (latency percentiles, errors), in rounds that take the servers in turn. Also
times a deploy (upload -> active), the first execution after it, and a true cold start (a
deployment activated by hand, which gets no worker ahead). Prints absolute figures and the ratios
the README's Performance section reports. Run: `.venv/bin/python benchmarks/executions.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
    "php": (
        "php-8.1",
        "index.php",
        "<?php\nreturn function ($req, $res) { $res->json(['hello' => $req['payload']]); };\n",
    ),
    "ruby": (
        "ruby-3.1",
        "index.rb",
        "def main(req, res)\n  res.json({ 'hello' => req.payload })\nend\n",
    ),
    "deno": (
        "deno-1.24",
        "mod.ts",
        "export default (req: any, res: any) => res.json({ hello: req.payload });\n",
    ),
}
INTERPRETERS = {"python": "python3", "node": "node", "php": "php", "ruby": "ruby", "deno": "deno"}
ROUNDS = 5


def available_languages() -> list[str]:
    return [lang for lang in HELLO if shutil.which(INTERPRETERS.get(lang, lang))]


@dataclass
class Target:
    """One server under test and what was measured of it."""

    name: str
    port: int
    http: httpx.Client
    path: str
    request: bytes
    warm: list[float] = field(default_factory=list)
    rate_requests: int = 0
    rate_seconds: float = 0.0
    load: list[float] = field(default_factory=list)
    load_seconds: float = 0.0
    errors: int = 0
    load_errors: int = 0

    def figures(self) -> dict[str, float]:
        warm = harness.Load(self.warm, 0, 1.0)
        out = {
            "p50_ms": warm.p50,
            "p99_ms": warm.pct(0.99),
            "rate": self.rate_requests / self.rate_seconds,
            "errors": self.errors,
        }
        if self.load:
            load = harness.Load(self.load, self.load_errors, self.load_seconds)
            out.update(
                load_p50_ms=load.p50,
                load_p99_ms=load.pct(0.99),
                load_max_ms=max(self.load),
                load_rate=load.rate,
                load_errors=self.load_errors,
            )
        return out


def measure(targets: list[Target], args: argparse.Namespace) -> None:
    """Sequential latency, throughput at `--clients`, then the `--load` run, each in rounds that
    take the targets in turn: a machine whose load changes meanwhile affects them alike."""
    body = {"data": "warm"}
    for target in targets:
        for _ in range(20):  # warm the connection and whatever caches the server has
            target.http.post(target.path, json=body)
    for _ in range(ROUNDS):
        for target in targets:
            warm = harness.sequential(target.http, target.path, body, args.calls // ROUNDS)
            target.warm += warm.latencies
            target.errors += warm.errors
        for target in targets:
            rate = harness.load(target.port, target.request, args.clients, args.calls * 3 // ROUNDS)
            target.rate_requests += len(rate.latencies)
            target.rate_seconds += rate.seconds
            target.errors += rate.errors
    for _ in range(2 if args.load else 0):
        for target in targets:
            heavy = harness.load(target.port, target.request, args.load_clients, args.load // 2)
            target.load += heavy.latencies
            target.load_seconds += heavy.seconds
            target.load_errors += heavy.errors
            if heavy.first_error:
                print(f"{target.name}: an error under load: {heavy.first_error[:300]}")


def deploy_language(server: harness.Emulator, language: str) -> tuple[Target, dict[str, float]]:
    """Deploy the language's hello function; its target and its deploy/cold-start figures."""
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
    target = Target(language, server.port, server.http, path, request)
    return target, {"deploy_ms": deploy_ms, "first_ms": first_ms, "cold_ms": cold_ms}


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


def report(
    results: dict[str, dict[str, float]], peer: dict[str, float] | None, args: argparse.Namespace
) -> None:
    rows = dict(results)
    if peer is not None:
        rows["ff"] = peer
    python_p50 = results["python"]["p50_ms"] if "python" in results else None
    for name, r in rows.items():
        cold = (
            f"deploy->active {r['deploy_ms']:4.0f} ms, first execution {r['first_ms']:5.1f} ms, "
            f"cold start {r['cold_ms']:5.1f} ms | "
            if "cold_ms" in r
            else ""
        )
        versus = (
            f" ({r['p50_ms'] / python_p50:.2f}x Python)"
            if python_p50 and name not in ("python", "ff")
            else ""
        )
        line = (
            f"{name:6} {cold}warm p50 {r['p50_ms']:.2f} ms{versus} p99 {r['p99_ms']:.2f} ms | "
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
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        targets: list[Target] = []
        if not args.no_peer:
            if harness.peer_binary() is None:
                print("functions-framework is not installed: no ratios", file=sys.stderr)
            else:
                port = stack.enter_context(harness.functions_framework(tmp))
                http = stack.enter_context(
                    httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
                )
                targets.append(
                    Target("ff", port, http, "/", harness.request_bytes("/", b'{"data":"x"}'))
                )
        server = stack.enter_context(harness.emulator(tmp / "data"))
        before = harness.tree(server.pid)
        starts = {}
        for language in languages:
            target, starts[language] = deploy_language(server, language)
            targets.append(target)
        measure(targets, args)
        refs = reference_points(server, 200) if "python" in languages else {}
        after = harness.tree(server.pid)
    figures = {t.name: t.figures() for t in targets}
    peer = figures.pop("ff", None)
    results = {lang: {**figures[lang], **starts[lang]} for lang in languages}
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
