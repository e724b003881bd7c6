"""1.3's abuse limit on createExecution: 60 calls per fixed 60 s window per (IP, user).

Off by default (an emulator is a development setup; `--rate-limit` turns it on); the `X-RateLimit-*` headers are always sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from emulator.errors import GeneralRateLimitExceeded

LIMIT = 60
WINDOW = 60


class RateLimiter:
    def __init__(self, enabled: bool, clock: Callable[[], float] = time.time) -> None:
        self.enabled = enabled
        self.clock = clock
        self._window_start = 0
        self._hits: dict[str, int] = {}

    def hit(self, key: str, exempt: bool) -> dict[str, str]:
        """Count one call of `key` (unless exempt or disabled); returns the headers to send.

        Raises:
            GeneralRateLimitExceeded: the key used up its window.
        """
        now = int(self.clock())
        start = now - now % WINDOW
        if start != self._window_start:
            self._window_start, self._hits = start, {}
        counted = self.enabled and not exempt
        so_far = self._hits.get(key, 0) if counted else 0
        headers = {
            "X-RateLimit-Limit": str(LIMIT),
            "X-RateLimit-Remaining": str(max(0, LIMIT - (so_far + 1))),
            "X-RateLimit-Reset": str(start + WINDOW),
        }
        if counted and so_far >= LIMIT:
            exceeded = GeneralRateLimitExceeded()
            exceeded.headers.update(headers)
            raise exceeded
        if counted:
            self._hits[key] = so_far + 1
        return headers
