"""Time as Appwrite shows it: UTC, millisecond precision, `2023-07-18T22:21:58.123+00:00`."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_datetime(value: datetime | None) -> str:
    """Appwrite's datetime text; `None` (an unset datetime) renders as `""`."""
    if value is None:
        return ""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+00:00"


def parse_datetime(text: str | None) -> datetime | None:
    """The inverse of `format_datetime` (`""`/None -> None)."""
    if not text:
        return None
    return datetime.fromisoformat(text).astimezone(UTC)
