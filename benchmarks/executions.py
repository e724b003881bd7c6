"""Execution speed of the real server: cold start, warm sync latency, throughput, memory.

Starts `python -m emulator serve` on a free port with a throw-away data dir, deploys a hello-world
function in every language with a local interpreter (Python, Node, PHP, Ruby, Deno), and prints
figures, with each language's warm p50 against Python's of the same run.
Run: `.venv/bin/python benchmarks/executions.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"
PROJECT = "bench"
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
INTERPRETER = {"python": "python3", "node": "node", "php": "php", "ruby": "ruby", "deno": "deno"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def archive(entrypoint: str, source: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = source.encode()
        info = tarfile.TarInfo(entrypoint)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found.append(int(child))
                found += descendants(int(child))
    except OSError:
        pass
    return found


async def throughput(port: int, path: str, body: bytes, clients: int, total: int) -> float:
    """Requests per second with `clients` keep-alive connections (a minimal HTTP/1.1 client)."""
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Appwrite-Project: {PROJECT}\r\nX-Appwrite-Key: {KEY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    remaining = total

    async def client() -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while remaining > 0:
            remaining -= 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            payload = await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 201"):
                raise RuntimeError(payload.decode())
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return total / (time.perf_counter() - started)


def bench(
    language: str, http: httpx.Client, port: int, calls: int, clients: int
) -> dict[str, float]:
    runtime, entrypoint, source = HELLO[language]
    fn_id = f"hello-{language}"
    http.post(
        "/functions", json={"functionId": fn_id, "name": fn_id, "runtime": runtime}
    ).raise_for_status()
    upload = http.post(
        f"/functions/{fn_id}/deployments",
        data={"entrypoint": entrypoint, "activate": "true"},
        files={"code": ("code.tar.gz", archive(entrypoint, source), "application/gzip")},
    )
    upload.raise_for_status()
    deadline = time.monotonic() + 120
    while http.get(f"/functions/{fn_id}").json()["deployment"] != upload.json()["$id"]:
        if time.monotonic() > deadline:
            raise RuntimeError("build did not finish")
        time.sleep(0.01)
    path = f"/functions/{fn_id}/executions"
    started = time.perf_counter()
    first = http.post(path, json={"data": "cold"})
    cold_ms = (time.perf_counter() - started) * 1000
    assert first.json()["statusCode"] == 200, first.text
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        response = http.post(path, json={"data": "warm"})
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 201
    latencies.sort()
    rate = asyncio.run(throughput(port, f"/v1{path}", b'{"data":"x"}', clients, calls * 3))
    return {
        "cold_ms": cold_ms,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "rate": rate,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--calls", type=int, default=1000, help="sequential warm calls (default 1000)"
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    args = parser.parse_args()
    languages = [lang for lang in HELLO if shutil.which(INTERPRETER[lang])]
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "emulator",
                "serve",
                tmp,
                "--port",
                str(port),
                "--no-watch",
                "--api-key",
                KEY,
                "--project-id",
                PROJECT,
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}/v1"
            headers = {"X-Appwrite-Project": PROJECT, "X-Appwrite-Key": KEY}
            with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        http.get("/health/version").raise_for_status()
                        break
                    except httpx.HTTPError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
                results = {
                    lang: bench(lang, http, port, args.calls, args.clients) for lang in languages
                }
            workers = descendants(server.pid)
            print(f"emulator RSS: {rss_mb(server.pid):.1f} MB")
            print(
                f"worker RSS:   {', '.join(f'{rss_mb(p):.1f}' for p in workers)} MB ({len(workers)} processes)"
            )
            python_p50 = results["python"]["p50_ms"]
            for lang, r in results.items():
                print(
                    f"{lang:6} cold start {r['cold_ms']:6.1f} ms | warm sync p50 {r['p50_ms']:.2f} ms "
                    f"({r['p50_ms'] / python_p50:.2f}x Python) p99 {r['p99_ms']:.2f} ms | "
                    f"{args.clients} clients: {r['rate']:.0f} executions/s"
                )
            print(json.dumps({"results": results}, indent=None))
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
