"""A tiny client for the runtime worker protocol (see runtimes/README.md), shared by the tests.

It starts a real adapter process the way the emulator does -- requests on stdin, replies on a pipe
passed with ``pass_fds`` -- and collects the worker's own stdout/stderr so tests can look at them.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "functions"
PYTHON_WORKER = ROOT / "runtimes" / "python" / "worker.py"
NODE_WORKER = ROOT / "runtimes" / "node" / "worker.js"

_EOF = object()


def base_env() -> dict[str, str]:
    """The minimal environment the emulator gives a worker."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
    }


class WorkerClient:
    """One worker process. Use as a context manager; it is killed on exit if still running."""

    def __init__(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        env: dict[str, str] | None = None,
        literal_fd3: bool = False,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        read_fd, write_fd = os.pipe()
        argv = list(argv)
        if literal_fd3:
            # Exactly as the README says: the reply pipe is fd 3 in the worker.
            def place_on_fd3() -> None:
                if write_fd == 3:
                    os.set_inheritable(3, True)
                else:
                    os.dup2(write_fd, 3)
                if preexec_fn is not None:
                    preexec_fn()

            popen_kwargs: dict[str, Any] = {"close_fds": False, "preexec_fn": place_on_fd3}
        else:
            argv += ["--reply-fd", str(write_fd)]
            popen_kwargs = {"pass_fds": (write_fd,), "preexec_fn": preexec_fn}
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                argv,
                cwd=str(cwd),
                env=env if env is not None else base_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                **popen_kwargs,
            )
        finally:
            os.close(write_fd)
        self._replies: queue.Queue[Any] = queue.Queue()
        self._out = bytearray()
        self._err = bytearray()
        self._threads = [
            threading.Thread(target=self._read_replies, args=(read_fd,), daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stdout, self._out), daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self._err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # -- plumbing ----------------------------------------------------------------------------------
    def _read_replies(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as pipe:
            for line in pipe:
                self._replies.put(json.loads(line.decode("utf-8")))
        self._replies.put(_EOF)

    @staticmethod
    def _drain(stream: Any, sink: bytearray) -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            sink.extend(chunk)

    # -- protocol ----------------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode("utf-8") + b"\n")
        self.proc.stdin.flush()

    def recv(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """The next reply line, or None once the worker closed the reply pipe (it exited)."""
        try:
            message = self._replies.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(
                f"no reply within {timeout}s; stderr: {self.stderr[-2000:]}"
            ) from None
        if message is _EOF:
            self._replies.put(_EOF)
            return None
        assert isinstance(message, dict), message
        return message

    def hello(self, timeout: float = 15.0) -> dict[str, Any]:
        message = self.recv(timeout)
        assert message is not None, f"worker exited before hello; stderr: {self.stderr}"
        return message

    def request(
        self,
        payload: str = "",
        variables: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        *,
        exec_id: str | None = None,
    ) -> str:
        exec_id = exec_id or uuid.uuid4().hex
        self.send(
            {
                "type": "execute",
                "id": exec_id,
                "payload": payload,
                "variables": variables or {},
                "headers": headers or {},
            }
        )
        return exec_id

    def execute(
        self,
        payload: str = "",
        variables: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        *,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        exec_id = self.request(payload, variables, headers)
        reply = self.recv(timeout)
        assert reply is not None, f"worker exited without replying; stderr: {self.stderr}"
        assert reply["type"] == "result", reply
        assert reply["id"] == exec_id, reply
        return reply

    # -- lifecycle ---------------------------------------------------------------------------------
    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        if not self.proc.stdin.closed:
            self.proc.stdin.close()

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    @property
    def stdout(self) -> str:
        """What the worker wrote to its real stdout (not part of the protocol)."""
        return self._out.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        """What the worker wrote to its real stderr (not part of the protocol)."""
        return self._err.decode("utf-8", "replace")

    def wait_for_stderr(self, text: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared on stderr: {self.stderr!r}")
            time.sleep(0.02)
        return self.stderr

    def __enter__(self) -> WorkerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.close_stdin()
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def fixture_dir(language: str, name: str | Path) -> Path:
    path = Path(name)
    return path if path.is_absolute() else FIXTURES / language / name


def python_worker(
    fixture: str | Path,
    entrypoint: str = "main.py",
    *,
    python: str = sys.executable,
    deps_dir: Path | None = None,
    **kwargs: Any,
) -> WorkerClient:
    code_dir = fixture_dir("python", fixture)
    argv = [python, str(PYTHON_WORKER), "--code-dir", str(code_dir), "--entrypoint", entrypoint]
    if deps_dir is not None:
        argv += ["--deps-dir", str(deps_dir)]
    return WorkerClient(argv, code_dir, **kwargs)


def node_executable() -> str | None:
    return shutil.which("node")


def node_worker(
    fixture: str | Path,
    entrypoint: str = "index.js",
    *,
    node_args: Sequence[str] = (),
    **kwargs: Any,
) -> WorkerClient:
    node = node_executable()
    assert node is not None
    code_dir = fixture_dir("node", fixture)
    argv = [node, *node_args, str(NODE_WORKER), "--code-dir", str(code_dir)]
    argv += ["--entrypoint", entrypoint]
    return WorkerClient(argv, code_dir, **kwargs)


def peak_rss_mb(pid: int) -> float:
    """The highest resident memory of process `pid` so far (VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024
