"""Cron schedules the way Appwrite 1.3 (dragonmantank/cron-expression v3.3) reads them.

`is_valid` backs the `schedule` param; `next_after` / `matches_between` give run times in UTC.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# (kind, low, high); kinds ordered as the five fields of an expression.
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 7))
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_LITERALS = {
    "month": {name: i + 1 for i, name in enumerate(_MONTHS)},
    "weekday": {name: i + 1 for i, name in enumerate(_WEEKDAYS)},
}
_BOUNDS = {kind: (low, high) for kind, low, high in _FIELDS}
_SPLIT = re.compile(r"[ \t\n\v\f\r]+")
_WS = " \t\n\r\v\f"
_TRIM = " \t\n\r\0\x0b"  # PHP trim()
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMERIC = re.compile(f"[{_WS}]*{_NUMBER}[{_WS}]*")
_LEADING = re.compile(f"[{_WS}]*({_NUMBER})")
_FILTER_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_INT_MAX = 2**63 - 1


class CronError(ValueError):
    """The expression passed validation but PHP would throw while computing run dates."""


def is_valid(expression: str) -> bool:
    """Mirror CronExpression::isValidExpression: exactly five valid fields or a built-in alias."""
    return _fields_of(expression) is not None


def is_blank(schedule: str) -> bool:
    """PHP empty() on a schedule: Appwrite treats "" and "0" as "no schedule"."""
    return schedule in ("", "0")


def next_after(expression: str, now: datetime) -> datetime:
    """First run strictly after `now`, in UTC with seconds zeroed; ValueError when there is none."""
    parts = _require(expression)
    after = _floor(now)
    found = _next(parts, after, datetime(min(after.year + 401, 9999), 12, 31, 23, 59, tzinfo=UTC))
    if found is None:
        raise CronError("Impossible CRON expression")
    return found


def matches_between(expression: str, start: datetime, end: datetime) -> list[datetime]:
    """Every run in (start, end], oldest first."""
    parts = _require(expression)
    until = end.astimezone(UTC) if end.tzinfo else end.replace(tzinfo=UTC)
    out: list[datetime] = []
    cursor = _floor(start)
    while (found := _next(parts, cursor, until)) is not None:
        out.append(found)
        cursor = found
    return out


# --- parsing and validation (AbstractField::validate and the DayOfMonth/DayOfWeek overrides) ---


def _fields_of(expression: str) -> tuple[str, ...] | None:
    expression = ALIASES.get(_ascii(expression, str.lower), expression)
    parts = tuple(p for p in _SPLIT.split(expression) if p)
    if len(parts) != 5:
        return None
    if all(_validate(kind, part) for (kind, _, _), part in zip(_FIELDS, parts, strict=True)):
        return parts
    return None


def _require(expression: str) -> tuple[str, ...]:
    parts = _fields_of(expression)
    if parts is None:
        raise ValueError(f"{expression} is not a valid CRON expression")
    return parts


def _validate(kind: str, value: str) -> bool:
    basic = _validate_basic(kind, value)
    if kind == "day":
        if "," in value and ("W" in value or "L" in value):
            return False
        if basic or value in ("?", "L"):
            return True
        return value.endswith("W") and _validate(kind, value[:-1])
    if kind == "weekday" and not basic:
        if value == "?":
            return True
        if "#" in value:
            chunks = value.split("#")
            nth = chunks[1]
            head = _convert(kind, chunks[0])
            if _validate_basic(kind, head) and _is_numeric(nth) and 1 <= _intval(nth) <= 5:
                return True
        return value.endswith("L") and _validate(kind, value[:-1])
    return basic


def _validate_basic(kind: str, value: str) -> bool:
    low, high = _BOUNDS[kind]
    value = _convert(kind, value)
    if value == "*":
        return True
    if "," in value:
        return all(_validate(kind, item) for item in value.split(","))
    if "/" in value:
        range_part, step = value.split("/")[:2]
        if _is_numeric(range_part):
            return False
        return _validate(kind, range_part) and _filter_int_truthy(step)
    if "-" in value:
        if value.count("-") > 1:
            return False
        first, second = (_convert(kind, chunk) for chunk in value.split("-"))
        if "*" in (first, second):
            return False
        return _validate(kind, first) and _validate(kind, second)
    if not _is_numeric(value) or "." in value:
        return False
    return low <= _intval(value) <= high


# --- matching (isSatisfiedBy of each field, getRunDate's day-of-month OR day-of-week rule) ---


def _next(parts: tuple[str, ...], after: datetime, until: datetime) -> datetime | None:
    day, weekday = parts[2], parts[4]
    if day == "*" or weekday == "*":
        return _scan(parts, after, until)
    # Both restricted: dragonmantank runs "m h dom mon *" and "m h * mon dow" and takes the earlier.
    found = []
    if day != "?":
        found.append(_scan((*parts[:4], "*"), after, until))
    if weekday != "?":
        found.append(_scan((*parts[:2], "*", parts[3], weekday), after, until))
    runs = [run for run in found if run is not None]
    return min(runs) if runs else None


def _scan(parts: tuple[str, ...], after: datetime, until: datetime) -> datetime | None:
    minutes, hours = _value_set("minute", parts[0]), _value_set("hour", parts[1])
    months = _value_set("month", parts[3])
    if not (minutes and hours and months):
        return None
    start = after + timedelta(minutes=1)
    year, month = start.year, start.month
    while (year, month) <= (until.year, until.month):
        if month in months:
            first = start.day if (year, month) == (start.year, start.month) else 1
            for dom in range(first, calendar.monthrange(year, month)[1] + 1):
                found = _first_in_day(parts, date(year, month, dom), start, minutes, hours)
                if found is not None:
                    return found if found <= until else None
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _first_in_day(
    parts: tuple[str, ...],
    day: date,
    start: datetime,
    minutes: frozenset[int],
    hours: frozenset[int],
) -> datetime | None:
    if not (_any_part(parts[2], lambda p: _day_matches(day, p))):
        return None
    if not (_any_part(parts[4], lambda p: _weekday_matches(day, p))):
        return None
    same_day = day == start.date()
    for hour in range(start.hour if same_day else 0, 24):
        if hour not in hours:
            continue
        low = start.minute if same_day and hour == start.hour else 0
        for minute in range(low, 60):
            if minute in minutes:
                return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
    return None


def _any_part(part: str, test: Callable[[str], bool]) -> bool:
    if part == "*":
        return True
    return any(test(item.strip(_TRIM)) for item in part.split(","))


@lru_cache(maxsize=256)
def _value_set(kind: str, part: str) -> frozenset[int]:
    low, high = _BOUNDS[kind]
    if part == "*":
        return frozenset(range(low, high + 1))
    return frozenset(v for v in range(low, high + 1) if _field_matches(kind, v, part))


def _field_matches(kind: str, current: int, part: str) -> bool:
    return _any_part(part, lambda item: _satisfied(kind, current, _convert(kind, item)))


def _day_matches(day: date, value: str) -> bool:
    if value == "?":
        return True
    last = calendar.monthrange(day.year, day.month)[1]
    if value == "L":
        return day.day == last
    w_at = value.find("W")
    if w_at > 0:
        return day.day == _nearest_weekday(day.year, day.month, _intval(value[:w_at]))
    return _satisfied("day", day.day, value)


def _nearest_weekday(year: int, month: int, target: int) -> int | None:
    # PHP builds the date with createFromFormat, which rolls day 0 or day 31 of a short month over.
    base = date(year, month, 1)
    candidate = base + timedelta(days=target - 1)
    if candidate.isoweekday() < 6:
        return candidate.day
    last = calendar.monthrange(candidate.year, candidate.month)[1]
    for shift in (-1, 1, -2, 2):
        adjusted = target + shift
        if 0 < adjusted <= last:
            moved = base + timedelta(days=adjusted - 1)
            if moved.isoweekday() < 6 and moved.month == month:
                return moved.day
    return None


def _weekday_matches(day: date, value: str) -> bool:
    if value == "?":
        return True
    value = _convert("weekday", value)
    last = calendar.monthrange(day.year, day.month)[1]
    l_at = value.find("L")
    if l_at > 0:
        wanted = _php_mod(_intval(_convert("weekday", value[:l_at])), 7)
        return wanted == day.isoweekday() % 7 and last - day.day < 7
    if value.find("#") > 0:
        head, nth_text = value.split("#")[:2]
        if not _is_numeric(nth_text):
            raise CronError(f"Hashed weekdays must be numeric, {nth_text} given")
        nth = _intval(nth_text)
        wanted = 7 if head == "0" else _intval(_convert("weekday", head))
        if not 0 <= wanted <= 7 or not 1 <= nth <= 5:
            raise CronError("Invalid hashed weekday")
        if day.isoweekday() != wanted:
            return False
        first = 1 + (wanted - date(day.year, day.month, 1).isoweekday()) % 7
        return day.day == min(first + 7 * (nth - 1), last + 1)
    if "-" in value:
        pieces = value.split("-")
        if pieces[0] == "7":
            pieces[0] = "0"
        elif pieces[1] == "0":
            pieces[1] = "7"
        value = "-".join(pieces)
    iso = any(_intval(char) == 7 for char in value)
    return _satisfied("weekday", day.isoweekday() if iso else day.isoweekday() % 7, value)


def _satisfied(kind: str, current: int, value: str) -> bool:
    """AbstractField::isSatisfied."""
    if "/" in value:
        return _in_steps(kind, current, value)
    if "-" in value:
        first, second = (_convert(kind, p.strip(_TRIM)) for p in value.split("-", 1))
        return _php_compare(current, first) >= 0 and _php_compare(current, second) <= 0
    return value == "*" or current == _intval(value)


def _in_steps(kind: str, current: int, value: str) -> bool:
    low, high = _BOUNDS[kind]
    chunks = [c.strip(_TRIM) for c in value.split("/", 1)]
    step = _intval(chunks[1])
    if step == 0:
        return False
    span = f"{low}-{high}" if chunks[0] == "*" else chunks[0]
    bounds = span.split("-", 1)
    first = _intval(bounds[0])
    last = _intval(bounds[1]) if len(bounds) > 1 else first
    if not low <= first <= high or not low <= last <= high or first > last:
        raise CronError("Invalid range requested")
    if step > high:  # dragonmantank wraps a step larger than the field to a single value
        return current == low + step % (high - low + 1)
    if step > last - first or first == last:
        return current == first
    if abs(step) > last - first:
        raise CronError("range(): step exceeds the specified range")
    return current in range(first, last + 1, abs(step))


# --- PHP helpers ---


def _convert(kind: str, value: str) -> str:
    number = _LITERALS.get(kind, {}).get(_ascii(value, str.upper))
    return value if number is None else str(number)


def _ascii(text: str, change: Callable[[str], str]) -> str:
    return "".join(change(c) if c.isascii() else c for c in text)


def _is_numeric(text: str) -> bool:
    return _NUMERIC.fullmatch(text) is not None


def _intval(text: str) -> int:
    """PHP (int) cast of a string: leading number, saturated to 64 bits, 0 when there is none."""
    match = _LEADING.match(text)
    if match is None:
        return 0
    number = match.group(1)
    if re.fullmatch(r"[+-]?\d+", number):
        value = int(number)
    else:
        as_float = float(number)
        if math.isinf(as_float):
            return _INT_MAX if as_float > 0 else -_INT_MAX - 1
        value = int(as_float)
    return max(-_INT_MAX - 1, min(_INT_MAX, value))


def _php_compare(number: int, text: str) -> int:
    """PHP 8 `int <=> string`: numeric strings compare as numbers, others as strings."""
    if _is_numeric(text):
        other = float(text.strip(_WS))
        return (number > other) - (number < other)
    mine = str(number)
    return (mine > text) - (mine < text)


def _php_mod(value: int, divisor: int) -> int:
    return value % divisor if value >= 0 else -((-value) % divisor)


def _filter_int_truthy(text: str) -> bool:
    """filter_var($step, FILTER_VALIDATE_INT) used as a boolean: a non-zero canonical int."""
    return _FILTER_INT.fullmatch(text) is not None and 0 < abs(int(text)) <= _INT_MAX


def _floor(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.replace(second=0, microsecond=0)
