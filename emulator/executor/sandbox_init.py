"""PID 1 of a worker's sandbox: a standalone program (standard library only, never imports the
emulator) that `emulator.executor.sandbox` starts inside fresh user, PID and mount namespaces.

    python3 -I -S sandbox_init.py [--abi N] [--deny-bind] [--bind-port PORT]... [--tmpfs DIR]...
                                  [--keep PATH]... [--read PATH]... [--write PATH]... -- WORKER_ARGV...

It makes /tmp and /dev/shm private (empty tmpfs mounts; folders the worker needs that lie under
them are bound back in first), confines itself with Landlock (the confinement is inherited and
cannot be lifted), starts the worker with the descriptors it was given, reaps every process the
namespace adopts (so orphans of user code never pile up as zombies), and exits when the worker
does: the kernel then kills whatever is left in the namespace. A worker killed by signal N makes
it exit with 128 + N (PID 1 of a namespace cannot kill itself).

Any failure to set up a protection the emulator asked for ends the process with status 125 and a
line on stderr, before user code runs: the sandbox fails closed.

Its start-up time is part of every cold start, so it imports the least it can: the policy comes
as flags (no `json`, whose import pulls in `re` and `enum`), signals through `_signal` (`signal`
builds enums on import); together these were about half of its start-up.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # no stub; `signal` is slower to import
import ctypes
import os
import sys
from typing import Any

SETUP_FAILED = 125

# Landlock (linux/landlock.h): three system calls with the same numbers on every architecture.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_PR_SET_NO_NEW_PRIVS = 38
_FS_READ = (1 << 0) | (1 << 2) | (1 << 3)  # execute, read file, read dir
_FILE_RIGHTS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)  # the rights a file can take
_NET_BIND_TCP = 1 << 0
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT = 1, 2, 4, 32
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class SetupError(Exception):
    pass


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(errno)}")
    return result


def handled_fs(abi: int) -> int:
    """Every filesystem right the kernel's Landlock ABI knows (all of them are then denied
    unless a rule allows them)."""
    rights = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        rights |= 1 << 13  # refer
    if abi >= 3:
        rights |= 1 << 14  # truncate
    if abi >= 5:
        rights |= 1 << 15  # ioctl_dev
    return rights


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _NetPortAttr(ctypes.Structure):
    _fields_ = (("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64))


def landlock(policy: dict[str, Any]) -> None:
    """Confine this process (and everything it starts) to the paths of `policy`."""
    abi = int(policy["abi"])
    fs = handled_fs(abi)
    attr = _RulesetAttr(fs, _NET_BIND_TCP if abi >= 4 and policy.get("deny_bind") else 0, 0)
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = _check(
        _libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0),
        "landlock_create_ruleset",
    )
    rules = [(path, _FS_READ | (fs & (1 << 15))) for path in policy.get("read", [])]
    rules += [(path, fs) for path in policy.get("write", [])]
    for path, rights in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue  # a system path this machine does not have
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        beneath = _PathBeneathAttr(rights & fs, fd)
        _check(
            _libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(beneath), 0),
            f"landlock_add_rule {path}",
        )
        os.close(fd)
    if attr.handled_access_net:
        for port in policy.get("bind_ports", []):  # a debugger's port: the only one it may bind
            rule = _NetPortAttr(_NET_BIND_TCP, int(port))
            _check(
                _libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_NET_PORT, ctypes.byref(rule), 0),
                f"landlock_add_rule port {port}",
            )
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _check(_libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    os.close(ruleset)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    result = _libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(result, f"mount {target}")


def private_tmp(mounts: list[str], keep: list[str]) -> None:
    """Empty tmpfs mounts on `mounts` (/tmp, /dev/shm); the folders of `keep` that lie beneath
    one of them are bound back, read-only, at the same path (the build, the adapters, an
    interpreter)."""
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE, None)
    held: list[tuple[str, int]] = []
    for path in keep:
        if any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts):
            held.append((path, os.open(path, os.O_PATH | os.O_CLOEXEC)))
    for target in mounts:
        if os.path.isdir(target):
            _mount("tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777")
    for path, fd in held:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC, None)
        # Read-only: Landlock would let the writable tmpfs around it grant writes.
        _mount("none", path, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY, None)
        os.close(fd)


def serve(worker: list[str]) -> int:
    """Start the worker, reap every child until it exits; returns this program's exit status."""
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(worker[0], worker)
        except OSError as exc:
            os.write(2, f"[appwrite-sandbox] cannot start {worker[0]}: {exc.strerror}\n".encode())
        os._exit(127)
    # Forwarded, so a polite stop reaches the worker (PID 1 ignores signals it has no handler for).
    for signum in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
        _signal.signal(signum, lambda n, _f: os.kill(pid, n))
    while True:
        try:
            child, status = os.wait()
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if child == pid:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.waitstatus_to_exitcode(status)


_LISTS = {"--tmpfs": "tmpfs", "--keep": "keep", "--read": "read", "--write": "write"}


def parse(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The policy given by the flags before `--`, and the worker's argv after it.

    Raises:
        ValueError: an unknown flag, a flag without its value, or no `--` and worker.
    """
    policy: dict[str, Any] = {
        "abi": 0,
        "deny_bind": False,
        "bind_ports": [],
        **{key: [] for key in _LISTS.values()},
    }
    index = 1
    while index < len(argv):
        flag = argv[index]
        if flag == "--":
            if index + 1 == len(argv):
                raise ValueError("no worker command after --")
            return policy, argv[index + 1 :]
        if flag == "--deny-bind":
            policy["deny_bind"] = True
            index += 1
            continue
        if index + 1 == len(argv):
            raise ValueError(f"{flag} needs a value")
        if flag == "--abi":
            policy["abi"] = int(argv[index + 1])
        elif flag == "--bind-port":
            policy["bind_ports"].append(int(argv[index + 1]))
        elif flag in _LISTS:
            policy[_LISTS[flag]].append(argv[index + 1])
        else:
            raise ValueError(f"unknown option {flag}")
        index += 2
    raise ValueError("no -- before the worker command")


def main(argv: list[str]) -> int:
    try:
        policy, worker = parse(argv)
    except ValueError as exc:
        os.write(
            2,
            f"sandbox_init.py: {exc}\nusage: sandbox_init.py [OPTIONS] -- WORKER_ARGV...\n".encode(),
        )
        return 2
    try:
        if policy["tmpfs"]:
            private_tmp(policy["tmpfs"], policy["keep"])
            os.chdir(os.getcwd())  # see the cwd through the new mounts
        if policy["abi"]:
            landlock(policy)
    except (SetupError, OSError) as exc:
        os.write(2, f"[appwrite-sandbox] the sandbox could not be set up: {exc}\n".encode())
        return SETUP_FAILED
    return serve(worker)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
