"""Python worker for Appwrite 1.3 functions (the open-runtimes v2 ``main(req, res)`` contract).

The emulator starts one of these per warm deployment and talks to it over the line protocol
defined by ``emulator/executor/protocol.py`` and described from the adapter's side in
``runtimes/README.md``: requests arrive on stdin, replies leave on fd 3 (or ``--reply-fd``); at start-up both move to private descriptors and user code gets ``/dev/null`` in
their place. The user's entrypoint is imported once, as a module of a synthetic ``userlib``
package rooted at the code directory (so ``from .helpers import x`` works, as it did in 1.3), and
its ``main`` is called once per request.

Runs on Python 3.8 and newer with the standard library only. Keep start-up cheap: heavy modules
(asyncio, traceback, importlib.util) are imported only when needed.
"""

import codecs
import contextvars
import io
import json
import os
import sys

_WORKER_FILES = {__file__, os.path.abspath(__file__)}
_WORKER_DIR = os.path.dirname(os.path.abspath(__file__))
_PACKAGE = "userlib"
_LOG_PREFIX = "[appwrite-worker] "
OUTPUT_LIMIT = 1000000
"""Appwrite 1.3 keeps the first 1,000,000 bytes (UTF-8) of ``response``, ``stdout`` and ``stderr``."""
_PRIVATE_FD_MIN = 100
"""The protocol descriptors are moved to this number or above, out of the way of user code."""


# --------------------------------------------------------------------------------------------------
# Output capture
# --------------------------------------------------------------------------------------------------


def _write_fd(fd, text):
    """Write text to a real file descriptor (the worker's own stdout/stderr), ignoring failures."""
    data = text.encode("utf-8", "backslashreplace")
    try:
        while data:
            written = os.write(fd, data)
            data = data[written:]
    except OSError:
        pass


def cut_text(text, limit=OUTPUT_LIMIT):
    """The longest prefix of ``text`` that fits in ``limit`` UTF-8 bytes, never splitting a character.

    Only the first ``limit`` characters are ever encoded, so cutting a huge string is cheap.
    """
    if len(text) * 4 <= limit:
        return text
    head = text[:limit]
    data = head.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return head
    end = limit
    while end > 0 and data[end] & 0xC0 == 0x80:  # data[end] continues a character: cut before it
        end -= 1
    return data[:end].decode("utf-8", "surrogatepass")


class Sink:
    """One captured stream of one execution: keeps its first OUTPUT_LIMIT bytes, counts the rest."""

    __slots__ = ("_chunks", "dropped", "room")

    def __init__(self, limit=OUTPUT_LIMIT):
        self._chunks = []
        self.room = limit  # bytes still free
        self.dropped = 0  # characters written after the limit was reached

    def add(self, text):
        if not text:
            return
        room = self.room
        size = len(text)
        if room <= 0:
            self.dropped += size
            return
        if size <= room:
            if not text.isascii():
                size = len(text.encode("utf-8", "surrogatepass"))
            if size <= room:
                self._chunks.append(text)
                self.room = room - size
                return
        head = cut_text(text, room)
        self._chunks.append(head)
        self.room = 0
        self.dropped += len(text) - len(head)

    def text(self):
        return "".join(self._chunks)


class Capture:
    """Where the output of one execution (or of the initial import) goes while it is ``open``."""

    __slots__ = ("err", "open", "out")

    def __init__(self):
        self.out = Sink()
        self.err = Sink()
        self.open = True


# The capture of the execution whose code is running. asyncio tasks (and loop callbacks) copy the
# context when they are created, so a task an execution started and never awaited still writes
# to that execution's capture -- closed by then: its late output goes to the worker's real
# stdout/stderr instead of into a later execution. Threads do not inherit the context: they fall
# back to the execution running at the time (`_active`).
_CURRENT = contextvars.ContextVar("appwrite_capture", default=None)
_active = None


def _current_capture():
    capture = _CURRENT.get()
    if capture is None:
        capture = _active
    if capture is None or not capture.open:
        return None
    return capture


class _BinaryCapture:
    """The ``.buffer`` of a capture stream: bytes are decoded as UTF-8 and passed on as text."""

    def __init__(self, text_stream):
        self._text = text_stream
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data):
        size = len(data)
        sink = self._text.sink()
        if sink is not None and sink.room <= 0:
            sink.dropped += size  # full: do not even decode
            return size
        if sink is not None and size > sink.room + 4:
            # Decode no more than can be kept (a character has at most 4 bytes).
            keep = sink.room + 4
            sink.add(self._decoder.decode(bytes(data[:keep])))
            self._decoder.reset()
            sink.dropped += size - keep
            return size
        self._text.write(self._decoder.decode(bytes(data)))
        return size

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def fileno(self):
        return self._text.fileno()

    def isatty(self):
        return False

    def writable(self):
        return True

    def readable(self):
        return False

    @property
    def closed(self):
        return False


class CaptureStream(io.TextIOBase):
    """Stands in for ``sys.stdout`` / ``sys.stderr`` for the whole life of the worker.

    While an execution (or the initial import) runs, text goes into that execution's capture;
    otherwise -- and for output of an execution that has already replied -- it goes to the
    worker's real file descriptor, which ends up in the emulator's log. Installing one long-lived
    object (instead of a fresh StringIO per call) means handlers that keep a reference to
    ``sys.stderr`` -- ``logging.basicConfig()`` at import time, for instance -- are still captured
    in later executions.
    """

    def __init__(self, fd, name, is_err):
        super().__init__()
        self._fd = fd
        self._name = name
        self._is_err = is_err
        self._buffer = _BinaryCapture(self)

    def sink(self):
        """The sink of the running execution this stream writes to, or None (the real fd)."""
        capture = _current_capture()
        if capture is None:
            return None
        return capture.err if self._is_err else capture.out

    # io.TextIOBase API ---------------------------------------------------------------------------
    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not " + type(text).__name__)
        sink = self.sink()
        if sink is not None:
            sink.add(text)
        else:
            _write_fd(self._fd, text)
        return len(text)

    def flush(self):
        pass

    def fileno(self):
        return self._fd

    def isatty(self):
        return False

    def writable(self):
        return True

    def readable(self):
        return False

    def seekable(self):
        return False

    def close(self):
        # User code sometimes closes sys.stdout; keep working.
        pass

    @property
    def closed(self):
        return False

    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "strict"

    @property
    def buffer(self):
        return self._buffer

    @property
    def name(self):
        return self._name

    @property
    def line_buffering(self):
        return False

    @property
    def mode(self):
        return "w"


STDOUT = CaptureStream(1, "<stdout>", False)
STDERR = CaptureStream(2, "<stderr>", True)


def _capture(capture):
    """Route output to ``capture`` until ``_release(token)``; returns that token."""
    global _active
    sys.stdout = STDOUT
    sys.stderr = STDERR
    _active = capture
    return _CURRENT.set(capture)


def _release(capture, token):
    global _active
    capture.open = False
    _active = None
    try:
        _CURRENT.reset(token)
    except ValueError:  # pragma: no cover - the context was switched under us
        _CURRENT.set(None)
    sys.stdout = STDOUT
    sys.stderr = STDERR


def _log(text):
    """A diagnostic from the worker itself, on its real stderr (the emulator's log)."""
    _write_fd(2, _LOG_PREFIX + text.rstrip("\n") + "\n")


# --------------------------------------------------------------------------------------------------
# Tracebacks
# --------------------------------------------------------------------------------------------------


def _is_plumbing(filename, leading):
    """Frames of the import system and, before the user's first frame, of the worker itself."""
    if filename.startswith("<frozen importlib"):
        return True
    if not leading:
        return False
    if filename in _WORKER_FILES:
        return True
    for name in ("asyncio", "importlib"):
        module = sys.modules.get(name)
        folder = os.path.dirname(getattr(module, "__file__", None) or "")
        if folder and filename.startswith(folder + os.sep):
            return True
    return False


def _trim_stack(te, seen):
    import traceback

    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    frames = list(te.stack)
    kept = [f for f in frames if not _is_plumbing(f.filename, False)]
    start = 0
    while start < len(kept) and _is_plumbing(kept[start].filename, True):
        start += 1
    kept = kept[start:]
    if len(kept) != len(frames):
        te.stack = traceback.StackSummary.from_list(kept)
    _trim_stack(getattr(te, "__cause__", None), seen)
    _trim_stack(getattr(te, "__context__", None), seen)
    for sub in getattr(te, "exceptions", None) or ():
        _trim_stack(sub, seen)


def format_exception(exc):
    """The traceback of ``exc`` as Python prints it, without the worker's and importlib's frames."""
    import traceback

    try:
        te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        _trim_stack(te, set())
        return "".join(te.format())
    except Exception:  # pragma: no cover - formatting must never take the worker down
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


# --------------------------------------------------------------------------------------------------
# req / res as Appwrite 1.3 (open-runtimes v2) gave them to Python functions
# --------------------------------------------------------------------------------------------------


class Request:
    """``req``: ``req.payload`` (str), ``req.variables`` (dict), ``req.headers`` (dict)."""

    def __init__(self, payload, variables, headers):
        self.payload = payload
        self.variables = variables
        self.headers = headers

    def __repr__(self):
        return (
            f"Request(payload={self.payload!r}, variables={self.variables!r}, "
            f"headers={self.headers!r})"
        )


class Response:
    """``res``: ``send``/``json`` only record the reply; it is sent once ``main`` returns."""

    def __init__(self):
        self._response = None
        self._status = 200

    def send(self, text, status=200):
        self._response = text
        self._status = status

    def json(self, obj, status=200):
        self._response = obj
        self._status = status


def _json_default(value):
    """What Flask 2.0's JSON encoder (used by 1.3's Python runtime) also knew how to encode."""
    import dataclasses
    import datetime
    import uuid

    if isinstance(value, datetime.date):
        # Flask sent dates as HTTP dates, in UTC ("Wed, 21 Oct 2015 07:28:00 GMT").
        from email.utils import format_datetime

        utc = datetime.timezone(datetime.timedelta(0))
        if not isinstance(value, datetime.datetime):
            value = datetime.datetime(value.year, value.month, value.day)
        if value.tzinfo is None:
            value = value.replace(tzinfo=utc)
        return format_datetime(value.astimezone(utc), usegmt=True)
    if isinstance(value, uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def response_text(value):
    """The ``response`` string for what the function passed to ``res.send``/``res.json``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(
            value,
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
            default=_json_default,
        )
    return response_text(_json_default(value))


def status_code(status):
    """The HTTP status passed to ``res.send``/``res.json`` as an int (default 200)."""
    if status is None:
        return 200
    if isinstance(status, bool) or (isinstance(status, float) and not status.is_integer()):
        raise ValueError(f"Invalid status code: {status!r}")
    try:
        code = int(status)
    except (TypeError, ValueError):
        raise ValueError(f"Invalid status code: {status!r}") from None
    if not 100 <= code <= 999:
        raise ValueError(f"Invalid status code: {status!r}")
    return code


# --------------------------------------------------------------------------------------------------
# Loading the entrypoint
# --------------------------------------------------------------------------------------------------


class LoadError(Exception):
    pass


def _install_package(code_dir):
    """Register ``userlib`` as a package whose only search location is the code dir."""
    import importlib.machinery
    import importlib.util

    init = os.path.join(code_dir, "__init__.py")
    if os.path.isfile(init):
        spec = importlib.util.spec_from_file_location(
            _PACKAGE, init, submodule_search_locations=[code_dir]
        )
    else:
        spec = importlib.machinery.ModuleSpec(_PACKAGE, None, is_package=True)
        spec.submodule_search_locations = [code_dir]
    module = importlib.util.module_from_spec(spec)
    sys.modules[_PACKAGE] = module
    if spec.loader is not None:
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(_PACKAGE, None)
            raise


def _import_file(name, path):
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_entrypoint(code_dir, entrypoint):
    """Import the entrypoint and return its ``main``.

    Raises LoadError (with a message for the user) or whatever the import itself raised.
    """
    import importlib

    rel = os.path.normpath(entrypoint.replace("\\", "/")).replace(os.sep, "/")
    if os.path.isabs(rel) or rel == ".." or rel.startswith("../") or rel in ("", "."):
        raise LoadError(
            f"Invalid entrypoint {entrypoint!r}: it must be a file path relative to the code."
        )
    path = os.path.join(code_dir, rel)
    if not os.path.isfile(path):
        raise LoadError(
            f"Entrypoint file not found: {rel} (the deployment has no such file; check the "
            "function's entrypoint)."
        )
    _install_package(code_dir)

    module_path = rel[:-3] if rel.endswith(".py") else rel
    parts = module_path.split("/")
    name = ".".join([_PACKAGE, *parts])
    if rel.endswith(".py") and all(p and "." not in p for p in parts):
        module = importlib.import_module(name)
    else:
        # A name the import system cannot spell (no .py suffix, dots in a file name): load the file
        # directly, still as a member of the package so relative imports resolve against its folder.
        parents = [p.replace(".", "_") for p in parts]
        module = _import_file(".".join([_PACKAGE, *parents]), path)

    func = getattr(module, "main", None)
    if func is None:
        raise LoadError(
            f"{rel} does not define a main function. Appwrite 1.3 calls `def main(req, res):` in "
            "the entrypoint file."
        )
    if not callable(func):
        raise LoadError(f"{rel} defines `main`, but it is not callable ({type(func).__name__}).")
    return func


# --------------------------------------------------------------------------------------------------
# Executions
# --------------------------------------------------------------------------------------------------


class Worker:
    def __init__(self, code_dir, entrypoint, base_env):
        self.code_dir = code_dir
        self.entrypoint = entrypoint
        self.base_env = base_env
        self.func = None
        self.load_error = None
        self.load_stdout = ""
        self.load_stderr = ""
        self.first_execution = True
        self._loop = None
        self._env = None  # what set_env left in os.environ
        self._env_raw = None

    def load(self):
        capture = Capture()
        token = _capture(capture)
        try:
            self.func = load_entrypoint(self.code_dir, self.entrypoint)
        except LoadError as exc:
            self.load_error = str(exc) + "\n"
        except BaseException as exc:  # SyntaxError, ImportError, SystemExit at import, ...
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.load_error = format_exception(exc)
        finally:
            _release(capture, token)
        self.load_stdout = capture.out.text()
        self.load_stderr = capture.err.text()
        # The hello: protocol.py's LoadErrorMessage or ReadyMessage.
        if self.load_error is not None:
            return {"type": "load_error", "stderr": cut_text(self.load_stderr + self.load_error)}
        return {"type": "ready"}

    def set_env(self, variables):
        """The environment becomes the worker's own plus `variables` (which win). Only what
        differs is written (rebuilding all of it took most of a hello execution's time):
        against what the last execution was given when the environment is as it was left
        (checked on CPython's byte-level copy, one dict comparison), else against the live
        environment."""
        wanted = dict(self.base_env)
        for key, value in variables.items():
            if value is None:
                value = ""
            wanted[str(key)] = value if isinstance(value, str) else str(value)
        environ = os.environ
        raw = getattr(environ, "_data", None)
        if self._env is not None and raw is not None and raw == self._env_raw:
            before = self._env
        else:
            before = dict(environ)
        for key in before:
            if key not in wanted:
                environ.pop(key, None)
        for key, value in wanted.items():
            if before.get(key) == value:
                continue
            try:
                environ[key] = value
            except (ValueError, OSError):
                _log(
                    f"variable {key!r} cannot be put in the environment; it stays in req.variables"
                )
                wanted.pop(key)
        self._env = wanted
        self._env_raw = dict(raw) if raw is not None else None

    def _await(self, awaitable):
        import asyncio

        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        return self._loop.run_until_complete(_as_coroutine(awaitable))

    def execute(self, message):
        exec_id = message.get("id")
        payload = message.get("payload")
        variables = message.get("variables") or {}
        headers = message.get("headers") or {}
        if payload is None:
            payload = ""
        elif not isinstance(payload, str):
            payload = json.dumps(payload)
        if not isinstance(variables, dict):
            variables = {}
        if not isinstance(headers, dict):
            headers = {}

        capture = Capture()
        if self.first_execution or self.load_error is not None:
            # What the import printed belongs to the first execution (1.3 imported lazily); a
            # load error is repeated for every execution, output included.
            capture.out.add(self.load_stdout)
            capture.err.add(self.load_stderr)
            self.first_execution = False
        status = 200
        response = ""
        self.set_env(variables)
        req = Request(payload, dict(variables), dict(headers))
        res = Response()
        token = _capture(capture)
        try:
            if self.load_error is not None:
                capture.err.add(self.load_error)
                status = 500
            else:
                result = self.func(req, res)
                if _is_awaitable(result):
                    self._await(result)
                response = cut_text(response_text(res._response))
                status = status_code(res._status)
        except (Exception, SystemExit) as exc:
            capture.err.add(format_exception(exc))
            status = 500
            response = ""
        finally:
            _release(capture, token)
        for name, sink in (("stdout", capture.out), ("stderr", capture.err)):
            if sink.dropped:
                _log(
                    f"execution {exec_id}: {name} was cut to its first {OUTPUT_LIMIT} bytes "
                    f"({sink.dropped} more characters were dropped)"
                )
        return {  # protocol.py's ResultMessage
            "type": "result",
            "id": exec_id,
            "statusCode": status,
            "response": response,
            "stdout": capture.out.text(),
            "stderr": capture.err.text(),
        }


def _is_awaitable(value):
    if value is None or isinstance(value, (str, bytes, int, float, dict, list, tuple)):
        return False
    return hasattr(type(value), "__await__")


async def _as_coroutine(awaitable):
    return await awaitable


# --------------------------------------------------------------------------------------------------
# Protocol plumbing
# --------------------------------------------------------------------------------------------------


def _parse_args(argv):
    opts = {
        "code_dir": None,
        "entrypoint": None,
        "deps_dir": None,
        "reply_fd": 3,
        "debug_port": None,
        "debugger_path": None,
    }
    names = {
        "--code-dir": "code_dir",
        "--entrypoint": "entrypoint",
        "--deps-dir": "deps_dir",
        "--reply-fd": "reply_fd",
        "--debug-port": "debug_port",
        "--debugger-path": "debugger_path",
    }
    i = 0
    while i < len(argv):
        arg = argv[i]
        key, value = arg, None
        if "=" in arg and arg.startswith("--"):
            key, value = arg.split("=", 1)
        if key not in names:
            raise SystemExit(f"worker.py: unknown argument {arg!r}")
        if value is None:
            i += 1
            if i >= len(argv):
                raise SystemExit(f"worker.py: {key} needs a value")
            value = argv[i]
        opts[names[key]] = value
        i += 1
    if not opts["code_dir"] or not opts["entrypoint"]:
        raise SystemExit(
            "usage: worker.py --code-dir DIR --entrypoint ENTRY [--deps-dir DIR] [--reply-fd N] "
            "[--debug-port PORT [--debugger-path DIR]]"
        )
    for key, flag in (("reply_fd", "--reply-fd"), ("debug_port", "--debug-port")):
        try:
            opts[key] = None if opts[key] is None else int(opts[key])
        except ValueError:
            raise SystemExit(f"worker.py: {flag} must be a number") from None
    return opts


def _private_fd(fd):
    """A close-on-exec copy of ``fd`` numbered ``_PRIVATE_FD_MIN`` or above (out of user code's way)."""
    import fcntl

    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _PRIVATE_FD_MIN)
    except OSError:  # a descriptor limit below _PRIVATE_FD_MIN
        return os.dup(fd)


def _null_onto(fd, flags, inheritable):
    devnull = os.open(os.devnull, flags)
    try:
        os.dup2(devnull, fd, inheritable=inheritable)
    finally:
        os.close(devnull)


class Channel:
    """Requests in on a private copy of stdin, replies out on a private copy of the reply fd.

    User code never sees the protocol: fd 0 becomes ``/dev/null`` (it reads an empty stdin, and so
    do processes it starts), and the reply fd becomes ``/dev/null`` too, so a stray write to fd 3
    cannot corrupt a reply. The private copies are close-on-exec: child processes do not inherit
    them.
    """

    def __init__(self, reply_fd):
        self._in = os.fdopen(_private_fd(0), "rb")
        _null_onto(0, os.O_RDONLY, True)
        out = _private_fd(reply_fd)
        if reply_fd > 2:  # (an odd --reply-fd of 0-2 is left alone)
            _null_onto(reply_fd, os.O_WRONLY, False)
        self._out = os.fdopen(out, "wb")

    def send(self, message):
        line = json.dumps(message, ensure_ascii=False) + "\n"
        try:
            self._out.write(line.encode("utf-8", "replace"))
            self._out.flush()
        except (BrokenPipeError, OSError):
            # Nobody is listening any more: the emulator is gone or gave up on this worker.
            _exit(0)

    def receive(self):
        """The next request as a dict, or None at end of input."""
        while True:
            line = self._in.readline()
            if not line:
                return None
            line = line.strip()
            if not line:
                continue
            try:
                message = json.loads(line.decode("utf-8", "replace"))
            except ValueError:
                _log(f"ignored a request line that is not JSON: {line[:200]!r}")
                continue
            if not isinstance(message, dict):
                _log("ignored a request that is not a JSON object")
                continue
            return message


def _exit(code):
    os._exit(code)


def start_debugger(port, path):
    """Start debugpy listening on 127.0.0.1:``port``, in this process (no adapter process, no
    other port). Returns None, or why it could not start (the worker's load error)."""
    if path:
        sys.path.append(path)
    try:
        import debugpy
    except ImportError:
        return (
            "Debugging Python functions needs debugpy, which is not installed: "
            "pip install 'appwrite-emulator[debug]'"
        )
    import socket

    # debugpy binds on a thread of its own and waits forever when that fails: try the port first.
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    except OSError as exc:
        return f"The debugger cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}"
    finally:
        probe.close()
    try:
        debugpy.listen(("127.0.0.1", port), in_process_debug_adapter=True)
    except Exception as exc:
        return f"The debugger could not start on 127.0.0.1:{port}: {exc}"
    return None


def run(argv):
    opts = _parse_args(argv)
    code_dir = os.path.abspath(opts["code_dir"])

    # The worker's own folder must not shadow user modules; user packages come first.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _WORKER_DIR]
    if opts["deps_dir"]:
        import site

        deps_dir = os.path.abspath(opts["deps_dir"])
        sys.path.insert(0, deps_dir)
        site.addsitedir(deps_dir)  # honours .pth files; the dir itself stays first
    sys.argv = [os.path.join(code_dir, opts["entrypoint"])]

    channel = Channel(opts["reply_fd"])
    worker = Worker(code_dir, opts["entrypoint"], dict(os.environ))
    failure = None
    if opts["debug_port"] is not None:
        failure = start_debugger(opts["debug_port"], opts["debugger_path"])
    if failure is None:
        channel.send(worker.load())
    else:  # every execution fails with the reason (protocol.py's LoadErrorMessage)
        worker.load_error = failure + "\n"
        channel.send({"type": "load_error", "stderr": failure})

    while True:
        message = channel.receive()
        if message is None:
            break
        kind = message.get("type")
        if kind != "execute":
            _log(f"ignored a request of unknown type {kind!r}")
            continue
        channel.send(worker.execute(message))
    _exit(0)


if __name__ == "__main__":
    run(sys.argv[1:])
