"""Child processes of the executor: started isolated (own session, parent-death signal, a PID namespace
when the kernel allows), memory-capped, watched for exit without threads, and killed with their tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import itertools
import os
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from emulator.executor import sandbox
from emulator.executor.protocol import REPLY_FD

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux / no libc symbol: no parent-death signal
        return None


_PRCTL = _load_prctl()


def isolation_prefix() -> tuple[str, ...]:
    """The command prefix that starts a process as PID 1 of its own namespaces, or ``()``.

    In a PID namespace the kernel kills every process of the tree (even ones that called
    ``setsid``) once its PID 1 dies; ``--kill-child`` makes PID 1 die with ``unshare``, which dies
    with the emulator through its parent-death signal. Probed once (`emulator.executor.sandbox`);
    slow (tens of ms), so `Executor.start` warms it in a thread.
    """
    return sandbox.probe().prefix


class Child:
    """A started process; its exit is observed through a pidfd (a thread only where that is missing)."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        reply: BinaryIO | None,
        *,
        sandboxed: bool = False,
        cgroup: Path | None = None,
    ) -> None:
        self.popen = popen
        self.sandboxed = sandboxed
        self.cgroup = cgroup
        self.pid = popen.pid
        self.reply = reply  # read end of the child's fd 3
        self.returncode: int | None = None
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._exit_callbacks: list[Callable[[int], None]] = []
        self._pidfd = -1
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            threading.Thread(target=self._wait_in_thread, daemon=True).start()
        else:
            self._loop.add_reader(self._pidfd, self._on_pidfd)

    def _on_pidfd(self) -> None:
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        code = self.popen.poll()
        self._exit_with(self.popen.wait() if code is None else code)

    def _wait_in_thread(self) -> None:
        code = self.popen.wait()
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            self._loop.call_soon_threadsafe(self._exit_with, code)

    def _exit_with(self, code: int) -> None:
        code = sandbox.exit_code(code, self.sandboxed)
        self.returncode = code
        # Anything left in its process group (only possible without a PID namespace) goes too;
        # the group id is still ours: its leader was reaped just now, and members keep it taken.
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.cgroup is not None:
            sandbox.MemoryCgroups.remove(self.cgroup)
        if not self._exited.done():
            self._exited.set_result(code)
        for callback in self._exit_callbacks:
            callback(code)

    def on_exit(self, callback: Callable[[int], None]) -> None:
        self._exit_callbacks.append(callback)

    @property
    def alive(self) -> bool:
        return self.returncode is None

    def kill(self) -> None:
        """SIGKILL the whole process group (and with it the PID namespace, if any)."""
        if self.returncode is not None:
            return
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            with contextlib.suppress(OSError):
                self.popen.kill()

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)


def _memory_limit_bytes(memory_mb: int) -> int:
    wanted = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


def spawn(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    memory_mb: int | None = None,
    reply_pipe: bool = False,
    cgroup: Path | None = None,
) -> Child:
    """Start `argv` in its own session, isolated, with stdin/stdout/stderr pipes.

    Args:
        memory_mb: cap on the data segment (RLIMIT_DATA: heap and private writable mappings, which
            unlike RLIMIT_AS leaves V8's address-space reservations alone).
        cgroup: a memory cgroup the child joins before it starts (its whole tree is counted).
        reply_pipe: open a pipe whose write end is the child's fd 3; its read end is `Child.reply`.

    Raises:
        OSError: the program could not be started (missing interpreter, missing cwd).
    """
    parent = os.getpid()
    data_limit = _memory_limit_bytes(memory_mb) if memory_mb else None
    cgroup_procs = str(cgroup / "cgroup.procs") if cgroup is not None else None
    reply_r = reply_w = -1
    if reply_pipe:
        reply_r, reply_w = os.pipe()
        if reply_w < REPLY_FD:  # Popen's own dup2 onto 0-2 would clobber it in the child
            moved = fcntl.fcntl(reply_w, fcntl.F_DUPFD_CLOEXEC, REPLY_FD)
            os.close(reply_w)
            reply_w = moved

    def prepare_child() -> None:  # runs in the child between fork and exec
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the emulator died before the death signal was armed
            os._exit(1)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if cgroup_procs is not None:
            fd = os.open(cgroup_procs, os.O_WRONLY)
            os.write(fd, b"0")
            os.close(fd)
        if data_limit is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))
        if reply_w >= 0:
            if reply_w != REPLY_FD:
                os.dup2(reply_w, REPLY_FD)
            os.set_inheritable(REPLY_FD, True)
        _seal_inherited_fds(REPLY_FD if reply_w >= 0 else 2)

    try:
        popen = subprocess.Popen(
            [*isolation_prefix(), *argv],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            # Off so that fd 3 survives the dup2 above; `_seal_inherited_fds` does its job.
            close_fds=False,
            start_new_session=True,
            preexec_fn=prepare_child,
        )
    except BaseException:
        if reply_pipe:
            os.close(reply_r)
        raise
    finally:
        if reply_w >= 0:
            os.close(reply_w)
    reply = os.fdopen(reply_r, "rb", buffering=0) if reply_pipe else None
    return Child(popen, reply, sandboxed=str(sandbox.INIT_PROGRAM) in argv, cgroup=cgroup)


def _seal_inherited_fds(last_kept: int) -> None:
    """In the child: mark every inheritable descriptor above `last_kept` close-on-exec.

    Python opens nothing inheritable (PEP 446), but the emulator may have inherited descriptors
    from whatever started it. Close-on-exec ones (like Popen's own error pipe) are left alone.
    """
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return
    for name in names:
        fd = int(name)
        if fd > last_kept:
            with contextlib.suppress(OSError):
                if not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                    os.set_inheritable(fd, False)


class Pipe:
    """One end of a pipe to a child, served by the event loop, whose descriptor is closed exactly
    once, by `close`.

    Not `loop.connect_read_pipe`/`connect_write_pipe`: under uvloop both libuv's handle and the
    file object own the descriptor and each closes it (MagicStack/uvloop#763); with threads in
    the process (the checkpointer, a test's client) the second close can hit a descriptor another
    thread has just been given. This class reads and writes the descriptor with `add_reader` /
    `add_writer`, on any loop.
    """

    READ_SIZE = 256 * 1024

    def __init__(self, pipe: Any) -> None:
        """Take over `pipe` (a file object): it is closed now, a copy of its descriptor kept."""
        self._fd = os.dup(pipe.fileno())
        pipe.close()
        os.set_blocking(self._fd, False)
        self._loop = asyncio.get_running_loop()
        self._on_eof: Callable[[], None] | None = None
        self._pending = bytearray()  # written while the pipe was full

    def is_closing(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        """Stop and close the descriptor (what was not written yet is dropped); the reader's
        `on_eof` follows if it did not run yet."""
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        self._loop.remove_reader(fd)
        self._loop.remove_writer(fd)
        os.close(fd)
        on_eof, self._on_eof = self._on_eof, None
        if on_eof is not None:  # later, as asyncio's transports do: the closer may be in a callback
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                self._loop.call_soon(on_eof)

    # -- reading ------------------------------------------------------------------------------------

    def read_into(self, on_data: Callable[[bytes], None], on_eof: Callable[[], None]) -> None:
        """Feed everything read to `on_data`, then call `on_eof` (at the end of the input, or
        when closed before)."""
        self._on_eof = on_eof

        def readable() -> None:
            try:
                data = os.read(self._fd, self.READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if data:
                on_data(data)
            else:
                self.close()

        self._loop.add_reader(self._fd, readable)

    # -- writing ------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write `data` now, or as the pipe drains; nothing once closed, or once the reader has
        gone (the pipe is then closed)."""
        if self._fd < 0:
            return
        if self._pending:
            self._pending += data
            return
        try:
            written = os.write(self._fd, data)
        except (BlockingIOError, InterruptedError):
            written = 0
        except OSError:  # the child is gone
            self.close()
            return
        if written < len(data):
            self._pending += data[written:]
            self._loop.add_writer(self._fd, self._drain)

    def _drain(self) -> None:
        try:
            written = os.write(self._fd, self._pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        del self._pending[:written]
        if not self._pending:
            self._loop.remove_writer(self._fd)


def read_pipe(source: Any, on_data: Callable[[bytes], None], on_eof: Callable[[], None]) -> Pipe:
    """Feed everything read from `source` (a pipe file object, taken over) to `on_data`, then
    call `on_eof`."""
    pipe = Pipe(source)
    pipe.read_into(on_data, on_eof)
    return pipe


def write_pipe(target: Any) -> Pipe:
    """A writer of `target` (a pipe file object, taken over)."""
    return Pipe(target)


class LineSplitter:
    """Cuts a byte stream into text lines; over-long lines are cut at `max_line` bytes."""

    def __init__(self, emit: Callable[[str], None], max_line: int = 16384) -> None:
        self._emit = emit
        self._buffer = bytearray()
        self._max_line = max_line

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self._max_line:
                    self._emit_bytes(bytes(self._buffer[: self._max_line]))
                    del self._buffer[: self._max_line]
                return
            self._emit_bytes(bytes(self._buffer[:end]))
            del self._buffer[: end + 1]

    def flush(self) -> None:
        if self._buffer:
            self._emit_bytes(bytes(self._buffer))
            self._buffer.clear()

    def _emit_bytes(self, line: bytes) -> None:
        self._emit(line.decode("utf-8", "replace").rstrip("\r"))


_CGROUP_NUMBERS = itertools.count(1)


class Children:
    """Every live child of one executor, so that closing it can kill them all and wait for them."""

    def __init__(self) -> None:
        self._live: set[Child] = set()
        self._closed = False

    def spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        memory_mb: int | None = None,
        reply_pipe: bool = False,
    ) -> Child:
        if self._closed:
            raise OSError("the executor is shut down")
        cgroups = sandbox.probe().cgroups
        cgroup = None
        if memory_mb and cgroups is not None:
            limit = sandbox.cgroup_limit_bytes(memory_mb)
            cgroup = cgroups.new(f"worker-{next(_CGROUP_NUMBERS)}", limit)
        try:
            child = spawn(
                argv, cwd=cwd, env=env, memory_mb=memory_mb, reply_pipe=reply_pipe, cgroup=cgroup
            )
        except BaseException:
            if cgroup is not None:
                sandbox.MemoryCgroups.remove(cgroup)
            raise
        self._live.add(child)
        child.on_exit(lambda _code: self._live.discard(child))
        return child

    def __len__(self) -> int:
        return len(self._live)

    async def kill_all(self, cap: float = 2.0) -> None:
        """Kill every child, wait until it and its PID namespace are gone, refuse new ones."""
        self._closed = True
        children = list(self._live)
        # The worker under `unshare` is not our child: note its pid to watch it die as well.
        inner = [pid for child in children for pid in _children_of(child.pid)]
        for child in children:
            child.kill()
        await asyncio.gather(*(child.wait() for child in children))
        deadline = time.monotonic() + cap
        while any(_running(pid) for pid in inner) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)


def _children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(field) for field in listing.read().split()]
    except (OSError, ValueError):
        return []


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a PID namespace is empty once its init is one)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
