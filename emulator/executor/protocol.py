"""The worker protocol: how the executor starts a `runtimes/<language>` adapter and the messages they
exchange, typed, with their encoding and decoding in one place. runtimes/README.md describes the
adapters' side of this contract.

Requests go to the worker's stdin and replies come back on descriptor `REPLY_FD`: one JSON object per
line (UTF-8, ``\\n``-terminated) each way. The worker says hello once (`Ready` or `LoadError`), then
answers each `Execute` request with one `Result`, one request at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from emulator.executor.results import OUTPUT_LIMIT, truncate, well_formed

REPLY_FD = 3
"""The descriptor on which a worker writes its replies (unless started with ``--reply-fd``)."""

MAX_REPLY_LINE = 6 * 3 * OUTPUT_LIMIT + 1024 * 1024
"""The longest reply line the executor buffers. The adapters cut `response`, `stdout` and `stderr`
to OUTPUT_LIMIT bytes each; JSON escaping can make a byte up to 6 (a control character as
``\\u00XX``), plus room for the rest of the message. A longer line breaks the protocol."""

LOAD_ERROR_TEXT = "The function could not be loaded."
"""The stderr of a `LoadError` whose worker sent no text."""


def worker_arguments(
    *,
    code_dir: str,
    entrypoint: str,
    deps_dir: str | None = None,
    reply_fd: int | None = None,
    debug_port: int | None = None,
    debugger_path: str | None = None,
) -> list[str]:
    """The adapter's command-line arguments, which follow the interpreter and the adapter's path.

    Args:
        code_dir: absolute path of the built deployment's code; also the worker's working directory.
        entrypoint: the function's entrypoint, relative to `code_dir`.
        deps_dir: a folder of installed packages put first on the import path (Python only).
        reply_fd: the descriptor the worker replies on, when it is not `REPLY_FD`.
        debug_port: start a debugger listening on 127.0.0.1 at this port before loading the
            entrypoint (Python: debugpy; Node takes `--inspect` on its own command line instead).
        debugger_path: a folder to import the debugger from (put last on the import path).
    """
    argv = ["--code-dir", code_dir, "--entrypoint", entrypoint]
    if deps_dir is not None:
        argv += ["--deps-dir", deps_dir]
    if reply_fd is not None:
        argv += ["--reply-fd", str(reply_fd)]
    if debug_port is not None:
        argv += ["--debug-port", str(debug_port)]
    if debugger_path is not None:
        argv += ["--debugger-path", debugger_path]
    return argv


# -- the lines on the wire ---------------------------------------------------------------------------


class ExecuteMessage(TypedDict):
    """A request line, keys in this order."""

    type: Literal["execute"]
    id: str
    payload: str
    variables: dict[str, str]
    headers: dict[str, str]


class ReadyMessage(TypedDict):
    """The hello of a worker whose entrypoint loaded and exposes the function."""

    type: Literal["ready"]


class LoadErrorMessage(TypedDict):
    """The hello of a worker whose entrypoint could not be loaded; `stderr` says why."""

    type: Literal["load_error"]
    stderr: str


class ResultMessage(TypedDict):
    """The reply to one request; `id` repeats the request's."""

    type: Literal["result"]
    id: str
    statusCode: int
    response: str
    stdout: str
    stderr: str


# -- the typed messages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Execute:
    """Run the function once (`ExecuteMessage`)."""

    id: str
    payload: str
    variables: Mapping[str, str]
    headers: Mapping[str, str] = field(default_factory=dict)

    def message(self) -> ExecuteMessage:
        return {
            "type": "execute",
            "id": self.id,
            "payload": self.payload,
            "variables": dict(self.variables),
            "headers": dict(self.headers),
        }

    def encode(self) -> bytes:
        """The request line, newline included (``json.dumps``' default spacing, ASCII only)."""
        return (json.dumps(self.message()) + "\n").encode()


@dataclass(frozen=True)
class Ready:
    """The entrypoint loaded (`ReadyMessage`)."""


@dataclass(frozen=True)
class LoadError:
    """The entrypoint could not be loaded (`LoadErrorMessage`); every execution fails with `stderr`."""

    stderr: str


@dataclass(frozen=True)
class Result:
    """The outcome of one execution (`ResultMessage`); the texts are cut to OUTPUT_LIMIT bytes.

    `id` is None when the worker left it out, which matches any request.
    """

    id: str | None
    status_code: int
    response: str
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Unknown:
    """A JSON object the protocol does not define (an unknown `type`, or a result whose `id` is not
    a string): ignored with a warning, not a protocol break."""

    line: bytes


Reply = Ready | LoadError | Result | Unknown


class ProtocolError(Exception):
    """The reply channel broke the protocol; the executor stops the worker.

    `what` names the fault; the text of the exception is the failed execution's stderr.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(
            f"The worker broke the protocol: {what}. It was stopped; the function may have "
            "written to the worker's reply descriptor."
        )


def decode_reply(line: bytes | bytearray) -> Reply:
    """One reply line (without its newline) as a typed message.

    A line that is a JSON object is never a protocol break: an unknown `type` is `Unknown`, and a
    result's fields are made usable (a `statusCode` that is not an integer becomes 500, a missing
    text is ``""``, a text that is not a string is its JSON, every text is cut to OUTPUT_LIMIT).

    Raises:
        ProtocolError: the line is not a JSON object.
    """
    try:
        message = json.loads(line)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        raise ProtocolError(f"an unreadable reply line ({bytes(line[:200])!r})")
    kind = message.get("type")
    if kind == "ready":
        return Ready()
    if kind == "load_error":
        return LoadError(truncate(well_formed(str(message.get("stderr") or LOAD_ERROR_TEXT))))
    if kind == "result":
        reply_id = message.get("id")
        if "id" in message and not isinstance(reply_id, str):
            return Unknown(bytes(line))
        status = message.get("statusCode", 500)
        if not isinstance(status, int) or isinstance(status, bool):
            status = 500
        return Result(
            reply_id,
            status,
            _text(message, "response"),
            _text(message, "stdout"),
            _text(message, "stderr"),
        )
    return Unknown(bytes(line))


def _text(message: Mapping[str, Any], key: str) -> str:
    value = message.get(key, "")
    return truncate(well_formed(value if isinstance(value, str) else json.dumps(value)))


class ReplyReader:
    """Cuts the bytes read from a worker's reply descriptor into replies.

    After a protocol break it ignores everything else: the channel cannot be trusted any more.
    """

    def __init__(self, max_line: int = MAX_REPLY_LINE) -> None:
        self.max_line = max_line
        self.broken = False
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer known to hold no newline

    def feed(self, data: bytes) -> Iterator[Reply]:
        """Take `data` now; iterate the result for the replies it completes, in order.

        Raises:
            ProtocolError: while iterating, at the first line that is not a JSON object or that
                grows beyond `max_line` bytes; the replies before it have been yielded.
        """
        if self.broken:
            return iter(())
        self._buffer += data
        return self._replies()

    def _replies(self) -> Iterator[Reply]:
        buffer = self._buffer
        while (end := buffer.find(b"\n", self._scanned)) >= 0:
            if end > self.max_line:
                break
            line = buffer[:end]
            del buffer[: end + 1]
            self._scanned = 0
            try:
                reply = decode_reply(line)
            except ProtocolError:
                self._break()
                raise
            yield reply
        if len(buffer) > self.max_line:
            self._break()
            raise ProtocolError(f"a reply line longer than {self.max_line:,} bytes")
        self._scanned = len(buffer)

    def _break(self) -> None:
        self.broken = True
        self._buffer = bytearray()
        self._scanned = 0
