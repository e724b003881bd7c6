"""End-to-end: the real `python -m emulator serve` process on a free port, driven by real clients."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from emulator.testing import AppwriteEmulator

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "e2e-secret-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[str]
    endpoint: str
    project_id: str
    api_key: str
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(
    project_dir: Path,
    data_dir: Path,
    *extra: str,
    api_key: str | None = API_KEY,
    env: dict[str, str] | None = None,
    watch: bool = False,
) -> Server:
    port = free_port()
    log_path = data_dir.parent / f"server-{port}.log"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "emulator",
        "serve",
        str(project_dir),
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *([] if watch else ["--no-watch"]),
        *extra,
    ]
    if api_key is not None:
        args += ["--api-key", api_key]
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    endpoint = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{endpoint}/health/version", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError(f"server did not answer in time:\n{log_path.read_text()}")
    project_id = "emulator"
    return Server(process, endpoint, project_id, api_key or "", data_dir, log_path)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    project = tmp_path / "project"
    project.mkdir()
    srv = start_server(project, tmp_path / "data")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def emu() -> Iterator[AppwriteEmulator]:
    """One in-process emulator (emulator.testing) for a test module."""
    with AppwriteEmulator() as emulator:
        yield emulator
