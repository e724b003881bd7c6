"""A tiny client for the worker protocol (`emulator.executor.protocol`), shared by the tests, and
the table of the languages whose adapters the tests drive.

It starts a real adapter process the way the emulator does -- requests on stdin, replies on a pipe
passed with ``pass_fds`` -- and collects the worker's own stdout/stderr so tests can look at them.
Requests are encoded by the protocol module itself, so the adapters get the executor's exact bytes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.catalog import CATALOGUE
from emulator.executor import ExecutionResult, Executor
from emulator.executor.discovery import LocalRuntime
from emulator.executor.launch import DENO_MIN_OS_MEMORY_MB, worker_command
from emulator.executor.protocol import Execute, worker_arguments
from emulator.executor.results import BuildResult

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "functions"

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
        self.lines: list[bytes] = []  # every reply line as it arrived, newline included
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
                self.lines.append(line)
                self._replies.put(json.loads(line.decode("utf-8")))
        self._replies.put(_EOF)

    @staticmethod
    def _drain(stream: Any, sink: bytearray) -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            sink.extend(chunk)

    # -- protocol ----------------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        self.send_line(json.dumps(message).encode("utf-8") + b"\n")

    def send_line(self, line: bytes) -> None:
        """Write `line` as it is on the worker's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line)
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
        request = Execute(exec_id, payload, variables or {}, headers or {})
        assert self.proc.stdin is not None
        self.proc.stdin.write(request.encode())
        self.proc.stdin.flush()
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


# -- the languages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Language:
    """What the tests need to know about one language adapter.

    Adding a language to the shared suites (tests/unit/executor/test_adapters.py and the executor's
    tests) takes a row in `LANGUAGES`, its adapter in runtimes/<name>/, and a fixture folder per
    shared behaviour in tests/fixtures/functions/<name>/ (the same folder names as the others).
    """

    name: str
    program: str | None
    """The interpreter looked up on PATH; None: the Python that runs the tests."""
    worker: str
    """The adapter's file in runtimes/<name>/."""
    entrypoint: str
    """The entry file of the fixtures (`relative_import`'s is src/<entrypoint>)."""
    runtime_id: str
    """The 1.3 runtime the executor tests deploy with."""
    print_adds_newline: bool
    """Captured output is the text as written, each line ending in "\\n" (Python's print), or
    the logged lines joined by "\\n" (Node's console)."""
    sorted_keys: bool
    """A JSON response has its keys sorted (Python, as 1.3's Flask runtime) or in insertion order."""
    syntax_error_at: str
    """Where the error of the `syntax_error` fixture points."""
    no_function_error: str
    """The load error of an entrypoint without the function to call (`no_function`)."""
    invalid_status_error: str
    """The stderr of `res.send('x', 'abc')` (`status` fixture)."""
    stdin_closers: tuple[str, ...]
    """The `protocol_tampering` fixture's actions that stop or close the function's stdin."""
    syntax_error_text: str = "SyntaxError"
    """What the load error of the `syntax_error` fixture names."""
    captures_stderr: bool = True
    """The function's stderr is captured (PHP: only the error of a failed execution, as in 1.3)."""
    status_argument: bool = True
    """`res.send`/`res.json` take a status (Ruby: no, the status is always 200, as in 1.3)."""
    private_stdin: bool = True
    """fd 0 of user code is /dev/null (Deno cannot replace it: its `Deno.stdin` reads as empty)."""
    can_spawn: bool = True
    """User code can start processes (Deno: no --allow-run, as in 1.3)."""
    memory_error: str | None = None
    """What a memory hog's failed execution says, when the function sees the error itself (else
    the emulator's "it may have run out of memory" note)."""
    build_checks_syntax: bool = False
    """The build parses the code and fails on a syntax error (Deno's `deno cache`, as in 1.3)."""
    memory_note_mb: int | None = None
    """The limit that note names when the worker needs a larger OS cap than asked (Deno)."""

    def executable(self) -> str | None:
        return sys.executable if self.program is None else shutil.which(self.program)

    @property
    def worker_path(self) -> Path:
        return ROOT / "runtimes" / self.name / self.worker

    @property
    def runtime_name(self) -> str:
        return next(r.name for r in CATALOGUE if r.id == self.runtime_id)

    @property
    def runtime_version(self) -> str:
        return next(r.version for r in CATALOGUE if r.id == self.runtime_id)

    def fixture(self, name: str | Path) -> Path:
        return fixture_dir(self.name, name)

    def logged(self, *lines: str) -> str:
        """The captured text of one execution that logged `lines`, one log call each."""
        if self.print_adds_newline:
            return "".join(line + "\n" for line in lines)
        return "\n".join(lines)


LANGUAGES: dict[str, Language] = {
    language.name: language
    for language in (
        Language(
            name="python",
            program=None,
            memory_error="MemoryError",
            worker="worker.py",
            entrypoint="main.py",
            runtime_id="python-3.9",
            print_adds_newline=True,
            sorted_keys=True,
            syntax_error_at='syntax_error/main.py", line 1',
            no_function_error="main.py does not define a main function",
            invalid_status_error="Invalid status code: 'abc'",
            stdin_closers=("close",),
        ),
        Language(
            name="node",
            program="node",
            worker="worker.js",
            entrypoint="index.js",
            runtime_id="node-18.0",
            print_adds_newline=False,
            sorted_keys=False,
            syntax_error_at="syntax_error/index.js:2",
            no_function_error="index.js does not export a function",
            invalid_status_error="RangeError: Invalid status code: abc",
            stdin_closers=("pause", "destroy"),
        ),
        Language(
            name="php",
            program="php",
            worker="worker.php",
            entrypoint="index.php",
            runtime_id="php-8.1",
            print_adds_newline=True,
            sorted_keys=False,
            syntax_error_at="syntax_error/index.php",
            no_function_error="index.php does not return a function",
            invalid_status_error="Invalid status code: 'abc'",
            stdin_closers=(),  # fclose(STDIN) closes fd 0 itself (the worker reads a copy)
            syntax_error_text="ParseError",
            captures_stderr=False,
        ),
        Language(
            name="ruby",
            program="ruby",
            worker="worker.rb",
            entrypoint="index.rb",
            runtime_id="ruby-3.1",
            print_adds_newline=True,
            sorted_keys=False,
            syntax_error_at="syntax_error/index.rb:2",
            no_function_error="index.rb does not define a main method",
            invalid_status_error="ArgumentError",
            stdin_closers=(),
            status_argument=False,
            memory_error="NoMemoryError",
        ),
        Language(
            name="deno",
            program="deno",
            worker="worker.js",
            entrypoint="mod.ts",
            runtime_id="deno-1.24",
            print_adds_newline=False,
            sorted_keys=False,
            syntax_error_at="syntax_error/mod.ts:2",
            no_function_error="mod.ts has no default export that is a function",
            invalid_status_error="RangeError: Invalid status code: abc",
            stdin_closers=(),
            syntax_error_text="source code could not be parsed",
            private_stdin=False,
            can_spawn=False,
            build_checks_syntax=True,
            memory_note_mb=DENO_MIN_OS_MEMORY_MB,
        ),
    )
}
LAUNCHED = ("php", "ruby", "deno")
"""Languages started with `launch.worker_command` (interpreter settings, Deno's launcher)."""


def language_params(*names: str) -> list[Any]:
    """`pytest.param`s of the languages (all by default), skipped where the interpreter is missing."""
    params = []
    for name in names or tuple(LANGUAGES):
        language = LANGUAGES[name]
        missing = language.executable() is None
        reason = f"{language.program} is not on PATH"
        params.append(
            pytest.param(language, id=name, marks=pytest.mark.skipif(missing, reason=reason))
        )
    return params


def fixture_dir(language: str, name: str | Path) -> Path:
    path = Path(name)
    return path if path.is_absolute() else FIXTURES / language / name


def start_worker(
    language: Language,
    fixture: str | Path,
    entrypoint: str | None = None,
    *,
    interpreter: str | None = None,
    interpreter_args: Sequence[str] = (),
    deps_dir: Path | None = None,
    **kwargs: Any,
) -> WorkerClient:
    """A worker of `language` serving the fixture function `fixture` (a name or a folder)."""
    program = interpreter or language.executable()
    assert program is not None, f"{language.name} is not installed"
    code_dir = language.fixture(fixture)
    if language.name in LAUNCHED:  # started with the emulator's own command line
        command = worker_command(
            language.name,
            program,
            code_dir=code_dir,
            deps_dir=deps_dir or Path(tempfile.mkdtemp(prefix=f"{language.name}-deps-")),
            entrypoint=entrypoint or language.entrypoint,
            memory_mb=kwargs.pop("memory_mb", 512),
        )
        if language.name == "deno":  # its launcher moves fd 3 itself: the pipe must be on fd 3
            kwargs["literal_fd3"] = True
        env = {**(kwargs.pop("env", None) or base_env()), **command.env}
        return WorkerClient(command.argv, code_dir, env=env, **kwargs)
    argv = [program, *interpreter_args, str(language.worker_path)]
    argv += worker_arguments(
        code_dir=str(code_dir),
        entrypoint=entrypoint or language.entrypoint,
        deps_dir=None if deps_dir is None else str(deps_dir),
    )
    return WorkerClient(argv, code_dir, **kwargs)


def python_worker(
    fixture: str | Path,
    entrypoint: str = "main.py",
    *,
    python: str = sys.executable,
    deps_dir: Path | None = None,
    **kwargs: Any,
) -> WorkerClient:
    return start_worker(
        LANGUAGES["python"], fixture, entrypoint, interpreter=python, deps_dir=deps_dir, **kwargs
    )


def node_executable() -> str | None:
    return LANGUAGES["node"].executable()


def node_worker(
    fixture: str | Path,
    entrypoint: str = "index.js",
    *,
    node_args: Sequence[str] = (),
    **kwargs: Any,
) -> WorkerClient:
    return start_worker(
        LANGUAGES["node"], fixture, entrypoint, interpreter_args=node_args, **kwargs
    )


def peak_rss_mb(pid: int) -> float:
    """The highest resident memory of process `pid` so far (VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def source_text(text: str) -> str:
    """A triple-quoted source as its file holds it: dedented, without its leading newline (PHP
    would print that before `<?php`)."""
    return textwrap.dedent(text).lstrip("\n")


def write_files(folder: Path, files: Mapping[str, str]) -> Path:
    """`files` (name -> `source_text`) written into `folder`, which is returned: a function's code."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source_text(text), encoding="utf-8")
    return folder


class BuiltDeployment:
    """One deployment of `runtime` built by a real `Executor` from source texts, then executed
    on its warm workers (the executor tests' common ground)."""

    def __init__(
        self, executor: Executor, runtime: LocalRuntime, entrypoint: str, tmp_path: Path
    ) -> None:
        self.executor = executor
        self.runtime = runtime
        self.entrypoint = entrypoint
        self.tmp_path = tmp_path
        self.build_id = "b" + uuid.uuid4().hex[:8]
        self.deployment_id = "d" + uuid.uuid4().hex[:8]

    async def build_files(self, files: Mapping[str, str]) -> BuildResult:
        """Build an archive of `files` (name -> `source_text`)."""
        archive = self.tmp_path / f"{self.build_id}.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for name, text in files.items():
                data = source_text(text).encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return await self.executor.build(
            build_id=self.build_id,
            archive=archive,
            runtime=self.runtime,
            entrypoint=self.entrypoint,
            env={},
        )

    async def execute(
        self, payload: str = "", *, timeout: float = 20, variables: dict[str, str] | None = None
    ) -> ExecutionResult:
        return await self.executor.execute(
            deployment_id=self.deployment_id,
            build_id=self.build_id,
            runtime=self.runtime,
            entrypoint=self.entrypoint,
            payload=payload,
            variables=variables or {},
            timeout=timeout,
            execution_id="e" + uuid.uuid4().hex[:8],
        )

    async def token(self) -> dict[str, Any]:
        """What a function answering with its module's token (a JSON object) answers."""
        result = await self.execute()
        assert result.status_code == 200, result
        body: dict[str, Any] = json.loads(result.response)
        return body
