"""What the executor hands back to the backend: build and execution results, and 1.3's output limits."""

from __future__ import annotations

import re
from dataclasses import dataclass

TIMEOUT_MESSAGE = (
    "An internal curl error has occurred within the executor! Error Msg: Operation timed out"
)
"""The stderr of a timed-out execution, word for word as Appwrite 1.3 reports it."""

OUTPUT_LIMIT = 1_000_000
"""Appwrite 1.3 keeps the first 1,000,000 bytes of `response`, `stdout` and `stderr`."""


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    stdout: str
    stderr: str
    duration: float


@dataclass(frozen=True)
class ExecutionResult:
    status_code: int
    response: str
    stdout: str
    stderr: str
    duration: float


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def well_formed(text: str) -> str:
    """`text` with every lone UTF-16 surrogate (which JSON can carry but UTF-8 cannot) replaced by
    U+FFFD, so whatever a function prints or returns can be stored and sent."""
    if text.isascii() or not _LONE_SURROGATE.search(text):  # isascii: the common case, fast
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


def truncate(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """The longest prefix of `text` that fits in `limit` UTF-8 bytes, never splitting a character."""
    if len(text) * 4 <= limit:
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    end = limit
    while end > 0 and data[end] & 0xC0 == 0x80:  # data[end] continues a character: cut before it
        end -= 1
    return data[:end].decode("utf-8", "surrogatepass")
