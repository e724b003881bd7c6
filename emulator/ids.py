"""Document IDs as Appwrite 1.3 makes them (`ID::unique()`)."""

from __future__ import annotations

import secrets
import time

UNIQUE = "unique()"


def unique_id() -> str:
    """20 lowercase hex chars: PHP `uniqid()` (13, time based) plus 7 random, so IDs sort by creation."""
    now = time.time()
    seconds = int(now)
    micros = int((now - seconds) * 1_000_000)
    return f"{seconds:08x}{micros:05x}{secrets.token_hex(4)[:7]}"


def resolve_custom_id(value: str) -> str:
    """A `CustomId` parameter: `unique()` becomes a fresh ID, and so does an ID PHP deems empty
    (`""`, `"0"`: the database generates one then); anything else is kept."""
    return unique_id() if value in (UNIQUE, "", "0") else value
