"""1.3's createExecution abuse limit (off by default in the emulator)."""

from __future__ import annotations

import pytest

from emulator.api.ratelimit import RateLimiter
from emulator.errors import GeneralRateLimitExceeded


def test_disabled_counts_nothing_but_sends_headers() -> None:
    limiter = RateLimiter(enabled=False, clock=lambda: 1000.0)
    for _ in range(100):
        headers = limiter.hit("ip:1,userId:", exempt=False)
    assert headers == {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "59",
        "X-RateLimit-Reset": "1020",  # the fixed window is aligned to minutes: 960 + 60
    }


def test_enabled_limits_each_key_per_window() -> None:
    now = [1000.0]
    limiter = RateLimiter(enabled=True, clock=lambda: now[0])
    remaining = [limiter.hit("a", exempt=False)["X-RateLimit-Remaining"] for _ in range(60)]
    assert remaining[0] == "59" and remaining[-1] == "0"
    with pytest.raises(GeneralRateLimitExceeded):
        limiter.hit("a", exempt=False)
    assert limiter.hit("b", exempt=False)["X-RateLimit-Remaining"] == "59"
    assert limiter.hit("a", exempt=True)["X-RateLimit-Remaining"] == "59"  # API keys are exempt
    now[0] = 1021.0  # the next window
    assert limiter.hit("a", exempt=False)["X-RateLimit-Remaining"] == "59"
