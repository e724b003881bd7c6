"""What the benchmark scripts share: the real server (and functions-framework as a peer) started as
processes, deploying a function, an HTTP load generator that times every request, and what
/proc says about a process tree (RSS, descriptors, zombies)."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"
PROJECT = "bench"


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


# -- /proc ----------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


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


def state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass(frozen=True)
class Tree:
    """A snapshot of a server process and everything under it."""

    rss_mb: float
    fds: int
    processes: int
    workers: int
    zombies: int
    worker_rss_mb: tuple[float, ...]

    def line(self) -> str:
        return (
            f"RSS {self.rss_mb:.1f} MB, {self.fds} open descriptors, {self.processes} processes "
            f"under it ({self.workers} workers, {self.zombies} zombies)"
        )


def tree(pid: int) -> Tree:
    below = descendants(pid)
    # A worker is the adapter process itself (under `unshare` and the sandbox's init when sandboxed).
    workers = [p for p in below if "/adapters/" in command(p) or "runtimes/" in command(p)]
    workers = [p for p in workers if "sandbox_init" not in command(p)]
    return Tree(
        rss_mb=rss_mb(pid),
        fds=open_fds(pid),
        processes=len(below),
        workers=len(workers),
        zombies=sum(state(p) == "Z" for p in below),
        worker_rss_mb=tuple(rss_mb(p) for p in workers),
    )


# -- the servers ----------------------------------------------------------------------------------


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return  # any answer: it is up
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer in {timeout} s")
        time.sleep(0.02)


@dataclass
class Emulator:
    """A `python -m emulator serve` process on a free port."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}/v1",
            headers={"X-Appwrite-Project": PROJECT, "X-Appwrite-Key": KEY},
            timeout=120,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def deploy(self, function_id: str, runtime: str, entrypoint: str, source: str) -> float:
        """Create the function, upload the code, wait until the build is active; returns the
        seconds from the upload to the deployment being active."""
        self.http.post(
            "/functions",
            json={"functionId": function_id, "name": function_id, "runtime": runtime},
        ).raise_for_status()
        began = time.perf_counter()
        deployment = self.upload(function_id, entrypoint, source, activate=True)
        deadline = time.monotonic() + 120
        while self.http.get(f"/functions/{function_id}").json()["deployment"] != deployment:
            if time.monotonic() > deadline:
                raise RuntimeError("the build did not finish")
            time.sleep(0.002)
        return time.perf_counter() - began

    def upload(self, function_id: str, entrypoint: str, source: str, *, activate: bool) -> str:
        """A new deployment of `source`; its ID."""
        upload = self.http.post(
            f"/functions/{function_id}/deployments",
            data={"entrypoint": entrypoint, "activate": "true" if activate else "false"},
            files={"code": ("code.tar.gz", archive(entrypoint, source), "application/gzip")},
        )
        upload.raise_for_status()
        return str(upload.json()["$id"])

    def wait_built(self, function_id: str, deployment: str) -> None:
        deadline = time.monotonic() + 120
        path = f"/functions/{function_id}/deployments/{deployment}"
        while (status := self.http.get(path).json()["status"]) != "ready":
            if status == "failed" or time.monotonic() > deadline:
                raise RuntimeError(f"the build of {deployment} did not succeed")
            time.sleep(0.002)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def start_emulator(
    data_dir: Path, *extra: str, program: tuple[str, ...] = ("-m", "emulator")
) -> Emulator:
    """`program` (what follows the interpreter on the command line) `serve`s on a free port."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            *program,
            "serve",
            str(data_dir / "project"),
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--no-watch",
            "--api-key",
            KEY,
            "--project-id",
            PROJECT,
            "--log-level",
            "warning",
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (data_dir / "project").mkdir(parents=True, exist_ok=True)
    wait_until_up(f"http://127.0.0.1:{port}/v1/health/version", process)
    return Emulator(process, port, data_dir)


@contextmanager
def emulator(
    data_dir: Path, *extra: str, program: tuple[str, ...] = ("-m", "emulator")
) -> Iterator[Emulator]:
    (data_dir / "project").mkdir(parents=True, exist_ok=True)
    server = start_emulator(data_dir, *extra, program=program)
    try:
        yield server
    finally:
        server.http.close()
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


PEER_SOURCE = """\
async def hello(request):
    body = await request.json()
    return {"hello": body.get("data")}
"""


def peer_binary() -> Path | None:
    """functions-framework from the same environment (the `test` extra installs it)."""
    binary = Path(sys.executable).parent / "functions-framework"
    return binary if binary.exists() else None


@contextmanager
def functions_framework(folder: Path) -> Iterator[int]:
    """Google's functions-framework (`--asgi`) serving a hello function; yields its port."""
    binary = peer_binary()
    if binary is None:
        raise RuntimeError("functions-framework is not installed (pip install -e '.[test]')")
    source = folder / "main.py"
    source.write_text(PEER_SOURCE)
    port = free_port()
    process = subprocess.Popen(
        [str(binary), "--asgi", "--target", "hello", "--source", str(source), "--port", str(port)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- load -----------------------------------------------------------------------------------------


def request_bytes(path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


EMULATOR_HEADERS = {"X-Appwrite-Project": PROJECT, "X-Appwrite-Key": KEY}


@dataclass
class Load:
    """Timings of one load run: every request's latency (ms), errors, wall time."""

    latencies: list[float]
    errors: int
    seconds: float
    first_error: str = ""

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * fraction) - 1))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")


async def _load(port: int, request: bytes, clients: int, total: int, expect: bytes) -> Load:
    remaining = total
    latencies: list[float] = []
    errors = 0
    first_error = ""

    async def client() -> None:
        nonlocal remaining, errors, first_error
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining > 0:
                remaining -= 1
                began = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                payload = await reader.readexactly(length)
                latencies.append((time.perf_counter() - began) * 1000)
                if not head.startswith(expect):
                    errors += 1
                    first_error = first_error or (head.split(b"\r\n")[0] + b" " + payload).decode()
        except (OSError, asyncio.IncompleteReadError) as exc:
            errors += 1
            first_error = first_error or repr(exc)
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return Load(latencies, errors, time.perf_counter() - began, first_error)


def load(
    port: int, request: bytes, clients: int, total: int, expect: bytes = b"HTTP/1.1 2"
) -> Load:
    """`total` requests over `clients` keep-alive connections, each timed."""
    return asyncio.run(_load(port, request, clients, total, expect))


def sequential(client: httpx.Client, path: str, body: dict[str, object], calls: int) -> Load:
    """`calls` requests one after the other on one keep-alive httpx connection."""
    latencies = []
    errors = 0
    began = time.perf_counter()
    for _ in range(calls):
        started = time.perf_counter()
        response = client.post(path, json=body)
        latencies.append((time.perf_counter() - started) * 1000)
        errors += response.status_code >= 300
    return Load(latencies, errors, time.perf_counter() - began)
