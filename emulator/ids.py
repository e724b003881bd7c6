"""Document IDs as Appwrite 1.3 makes them (`ID::unique()`)."""

from __future__ import annotations

import os
import threading
import time

UNIQUE = "unique()"

_RANDOM = bytearray()
"""Random bytes from the OS, drawn 4 KiB at a time (one system call per 1,024 IDs, not per ID)."""
_LOCK = threading.Lock()  # emulators in several threads of one process (the test fixture)


def unique_id() -> str:
    """20 lowercase hex chars: PHP `uniqid()` (13, time based) plus 7 random, so IDs sort by creation."""
    now = time.time()
    seconds = int(now)
    micros = int((now - seconds) * 1_000_000)
    with _LOCK:
        if len(_RANDOM) < 4:
            _RANDOM.extend(os.urandom(4096))
        random = _RANDOM[-4:].hex()
        del _RANDOM[-4:]
    return f"{seconds:08x}{micros:05x}{random[:7]}"


def resolve_custom_id(value: str) -> str:
    """A `CustomId` parameter: `unique()` becomes a fresh ID, and so does an ID PHP deems empty
    (`""`, `"0"`: the database generates one then); anything else is kept."""
    return unique_id() if value in (UNIQUE, "", "0") else value
