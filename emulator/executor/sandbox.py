"""The sandbox of function workers (Linux): what this machine allows, probed once, and the command
prefix and memory cgroup that put one worker inside it. The README's "Security model" says what
each mechanism keeps a function from reaching.

- user + PID + mount namespaces (`unshare`): a private `/proc` (no other process's environment or
  command line is visible), private empty `/tmp` and `/dev/shm`, no real privileges;
- Landlock (`sandbox_init.py`, PID 1 of the namespace): the worker reads only the system's
  read-only folders, its interpreter, its adapter and its own build, writes only its temp folders,
  cannot listen on TCP ports and cannot signal processes outside;
- a memory cgroup (v2 or v1) per worker: the cap covers all the memory of the worker's tree,
  shared mappings included; `RLIMIT_DATA` stays as the first, gentler limit.

Where something is missing (another OS, an old kernel, no user namespaces, no writable cgroup),
`Protections.missing()` names it, the emulator says so once at start-up, and workers run anyway
with what is left.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("emulator.executor")

INIT_PROGRAM = Path(__file__).with_name("sandbox_init.py")

SYSTEM_READ_ONLY = (
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/bin",
    "/sbin",
    "/etc",
    "/opt",
    "/sys",
    "/dev/random",
    "/dev/urandom",
    "/dev/zero",
)
"""Folders every interpreter may read (and execute from). Nothing of the emulator lives there."""
SYSTEM_WRITABLE = ("/dev/null", "/dev/full", "/dev/tty", "/dev/pts", "/dev/ptmx")
PRIVATE_MOUNTS = ("/tmp", "/dev/shm")
"""Replaced by empty tmpfs mounts inside the sandbox."""

_LANDLOCK_CREATE_RULESET_VERSION = 1


@dataclass(frozen=True)
class Protections:
    """What this machine lets the sandbox do."""

    prefix: tuple[str, ...] = ()
    """`unshare ...`: the namespaces every worker starts in (empty: none)."""
    user_namespace: bool = False
    mount_namespace: bool = False
    landlock_abi: int = 0
    init_python: str | None = None
    """The interpreter that runs `sandbox_init.py` (PID 1 of the namespace)."""
    cgroups: MemoryCgroups | None = None

    @property
    def pid_namespace(self) -> bool:
        return bool(self.prefix)

    @property
    def confined(self) -> bool:
        """True when workers are confined to their own files (Landlock through the init)."""
        return bool(self.landlock_abi and self.init_python)

    def missing(self) -> list[str]:
        """One phrase per protection that is off on this machine."""
        off = []
        if not self.pid_namespace:
            off.append("no PID namespace (functions can see the emulator's processes in /proc)")
        elif not self.mount_namespace:
            off.append("no mount namespace (no private /proc, /tmp and /dev/shm)")
        if not self.init_python:
            off.append("no Python to run the sandbox's init (no Landlock, orphans are not reaped)")
        elif not self.landlock_abi:
            off.append("no Landlock (functions can read every file the emulator can)")
        elif self.landlock_abi < 4:
            off.append("Landlock without network rules (functions can listen on TCP ports)")
        if self.cgroups is None:
            off.append("no writable memory cgroup (the memory cap covers private memory only)")
        return off


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is missing or disabled."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        version = int(libc.syscall(444, None, ctypes.c_size_t(0), _LANDLOCK_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(version, 0)


def _init_python() -> str | None:
    """A Python for the init: the emulator's own, unless it is frozen (the one-file binary)."""
    if not getattr(sys, "frozen", False):
        return sys.executable
    return shutil.which("python3")


def _runs(argv: list[str]) -> bool:
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10, cwd="/"
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _namespace_candidates(unshare: str) -> Iterable[tuple[tuple[str, ...], bool, bool]]:
    """(prefix, user namespace, mount namespace), most isolated first."""
    pid = ("--pid", "--fork", "--kill-child")
    mount = ("--mount", "--mount-proc")
    user = ("--user", "--map-root-user")
    yield (unshare, *user, *pid, *mount), True, True
    if os.geteuid() == 0:
        yield (unshare, *pid, *mount), False, True
        yield (unshare, *pid), False, False
    yield (unshare, *user, *pid), True, False


@functools.cache
def probe() -> Protections:
    """Find out, once, which protections work here (starts a few short processes: ~50 ms)."""
    if not sys.platform.startswith("linux"):
        return Protections()
    cgroups = MemoryCgroups.create()
    unshare = shutil.which("unshare")
    init_python = _init_python()
    abi = landlock_abi()
    for prefix, user_ns, mount_ns in _namespace_candidates(unshare) if unshare else ():
        if not _runs([*prefix, "true"]):
            continue
        found = Protections(prefix, user_ns, mount_ns, abi, init_python, cgroups)
        if init_python:
            policy = policy_args(found, read=(), keep=())
            if _runs([*prefix, *_init_argv(init_python, policy), "/bin/true"]):
                return found
            found = Protections(prefix, user_ns, mount_ns, 0, None, cgroups)
        return found
    return Protections(landlock_abi=0, init_python=None, cgroups=cgroups)


def _init_argv(python: str, policy: list[str]) -> list[str]:
    return [python, "-I", "-S", str(INIT_PROGRAM), *policy, "--"]


def policy_args(
    protections: Protections,
    *,
    read: Iterable[str],
    keep: Iterable[str],
    bind_ports: Iterable[int] = (),
) -> list[str]:
    """The init's policy as its flags (see `sandbox_init.py`): what to mount privately, what the
    worker may read and write, and the TCP ports it may listen on (none, unless a debugger must
    listen)."""
    mount_ns = protections.mount_namespace
    write = [*SYSTEM_WRITABLE, *(PRIVATE_MOUNTS if mount_ns else ())]
    if mount_ns:
        write.append("/proc")  # private: only the sandbox's own processes
    resolv = os.path.realpath("/etc/resolv.conf")
    lists = {
        "--tmpfs": list(PRIVATE_MOUNTS) if mount_ns else [],
        "--keep": [str(p) for p in keep],
        "--read": [*SYSTEM_READ_ONLY, os.path.dirname(resolv), *(str(p) for p in read)],
        "--write": write,
    }
    args = ["--abi", str(protections.landlock_abi), "--deny-bind"]
    for flag, paths in lists.items():
        for path in paths:
            args += [flag, path]
    for port in sorted({int(port) for port in bind_ports}):
        args += ["--bind-port", str(port)]
    return args


def interpreter_home(interpreter: str) -> str:
    """The installation folder of an interpreter (`.../bin/python3` -> `...`), which it reads
    its standard library from; just the binary's folder when that would be `/` or a home."""
    binary = os.path.realpath(interpreter)
    home = os.path.dirname(os.path.dirname(binary))
    if home in ("/", os.path.expanduser("~")) or Path(home) == Path.home():
        return os.path.dirname(binary)
    return home


def worker_prefix(
    protections: Protections,
    *,
    interpreter: str,
    adapter: str,
    build: Iterable[str],
    read: Iterable[str] = (),
    bind_ports: Iterable[int] = (),
) -> tuple[str, ...]:
    """The command that starts one worker inside the sandbox, prepended to the worker's argv
    (`process.spawn` puts the namespaces' `unshare` in front of it).

    Args:
        interpreter: the language's interpreter (its installation becomes readable).
        adapter: the adapter program (its folder becomes readable).
        build: the deployment's build folders (code, dependencies): readable, nothing else of the
            data dir is.
        read: more folders the worker reads (a debugger's package).
        bind_ports: TCP ports the worker may listen on (a debugger's, on loopback); every other
            port stays closed to it.
    """
    if not (protections.pid_namespace and protections.init_python):
        return ()
    paths = [interpreter_home(interpreter), os.path.dirname(adapter), *build, *read]
    policy = policy_args(protections, read=paths, keep=paths, bind_ports=bind_ports)
    return tuple(_init_argv(protections.init_python, policy))


def cgroup_limit_bytes(memory_mb: int) -> int:
    """The cgroup cap of a worker whose private memory is capped at `memory_mb` (RLIMIT_DATA).

    A quarter more (at least 64 MB) for what the cgroup counts besides: the sandbox's init, the
    interpreter's code, page cache. So a plain allocation meets RLIMIT_DATA first (a MemoryError
    the function sees, or V8's heap limit), and the cgroup stops what RLIMIT_DATA cannot see
    (shared memory, memory of child processes).
    """
    return (memory_mb + max(64, memory_mb // 4)) * 1024 * 1024


def exit_code(code: int, sandboxed: bool) -> int:
    """A worker's status as Popen reports it: the init reports a signal N as 128 + N."""
    if sandboxed and 128 < code < 128 + 65:
        return -(code - 128)
    return code


class MemoryCgroups:
    """One memory cgroup per worker under a parent made for this emulator process (v2 or v1)."""

    def __init__(self, parent: Path, version: int) -> None:
        self.parent = parent
        self.version = version

    @classmethod
    def create(cls) -> MemoryCgroups | None:
        """The parent cgroup for this process's workers, or None where none can be made."""
        try:
            own = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            return None
        name = f"appwrite-emulator-{os.getpid()}"
        for line in own:
            _, controllers, path = line.split(":", 2)
            if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").is_file():
                base, version = Path("/sys/fs/cgroup") / path.lstrip("/"), 2
            elif "memory" in controllers.split(","):
                base, version = Path("/sys/fs/cgroup/memory") / path.lstrip("/"), 1
            else:
                continue
            parent = base / name
            try:
                parent.mkdir(exist_ok=True)
                if version == 2:
                    (parent / "cgroup.subtree_control").write_text("+memory")
                    probe = parent / "probe"
                    probe.mkdir(exist_ok=True)
                    usable = (probe / "memory.max").is_file()
                    probe.rmdir()
                else:
                    usable = (parent / "memory.limit_in_bytes").is_file()
            except OSError:
                usable = False
            if usable:
                groups = cls(parent, version)
                atexit.register(groups.close)
                return groups
            with contextlib.suppress(OSError):
                parent.rmdir()
        return None

    def new(self, name: str, limit_bytes: int) -> Path:
        """A cgroup for one worker, capped at `limit_bytes` (swap included where the kernel can)."""
        group = self.parent / name
        group.mkdir(exist_ok=True)
        if self.version == 2:
            (group / "memory.max").write_text(str(limit_bytes))
            with contextlib.suppress(OSError):
                (group / "memory.swap.max").write_text("0")
        else:
            (group / "memory.limit_in_bytes").write_text(str(limit_bytes))
            with contextlib.suppress(OSError):
                (group / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
        return group

    @staticmethod
    def remove(group: Path) -> None:
        """Remove a worker's cgroup once its processes are gone (ignored while it is not empty)."""
        with contextlib.suppress(OSError):
            group.rmdir()

    def close(self) -> None:
        for group in self.parent.glob("*/") if self.parent.is_dir() else ():
            self.remove(group)
        self.remove(self.parent)


def describe(protections: Protections) -> str:
    """One line for the start-up log."""
    missing = protections.missing()
    if not missing:
        return "functions run sandboxed (namespaces, Landlock, memory cgroup)"
    return "sandbox protections off on this machine: " + "; ".join(missing)
