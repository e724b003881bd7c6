"""Time as Appwrite shows it: UTC, millisecond precision, `2023-07-18T22:21:58.123+00:00`."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


_last: tuple[datetime | None, str] = (None, "")
"""The last datetime formatted and its text: a record's dates are formatted several times in a
row (stored, answered, sent with its event)."""


def format_datetime(value: datetime | None) -> str:
    """Appwrite's datetime text; `None` (an unset datetime) renders as `""`."""
    global _last
    if value is None:
        return ""
    last = _last
    if value is last[0]:
        return last[1]
    text = _format(value)
    _last = (value, text)
    return text


def _format(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    if value.year < 1000:  # strftime's unpadded year
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+00:00"
    # Python's own ISO format is Appwrite's for an aware UTC datetime (a 4-digit year) and
    # several times cheaper than strftime: every record write formats dates.
    return value.isoformat(timespec="milliseconds")


def parse_datetime(text: str | None) -> datetime | None:
    """The inverse of `format_datetime` (`""`/None -> None)."""
    if not text:
        return None
    return datetime.fromisoformat(text).astimezone(UTC)
