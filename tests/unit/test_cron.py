"""Cron validation and run times, following dragonmantank/cron-expression v3.3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from emulator.cron import CronError, is_blank, is_valid, matches_between, next_after


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 1 1 *",
        "* * * * *",
        "*/5 * * * *",
        "0-59/15 0,12 1-31 1-12 0-7",
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
        "@DAILY",
        "@Hourly",
        "0 9 * * MON-FRI",
        "0 9 * jan,FEB *",
        "0 9 * * sun",
        "0 0 L * *",
        "0 0 15W * *",
        "0 0 LW * *",
        "0 0 ? * 1",
        "0 0 1 * ?",
        "0 0 * * 5L",
        "0 0 * * FRIL",
        "0 0 * * 1#2",
        "0 0 * * MON#5",
        "  0   0 * * *  ",
        "0\t0\n* * *",
        # dragonmantank quirks, accepted on purpose
        "5-1 * * * *",  # ranges are not ordered
        "1e1 * * * *",  # is_numeric + (int) cast
        "+5 * * * *",
        "05 * * * *",
        "*/5/3 * * * *",  # only the first step is read
        "*/-5 * * * *",  # FILTER_VALIDATE_INT accepts a sign
        "*/90 * * * *",  # steps larger than the field
        "0 0 1-5W * *",
        "0 0 * * 1-2#3",
    ],
)
def test_valid(expression: str) -> None:
    assert is_valid(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "   ",
        "* * * *",
        "* * * * * *",  # a sixth field (seconds or year) is rejected
        "0 0 1 1 * 2030",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * 32 * *",
        "* * * 0 *",
        "* * * 13 *",
        "* * * * 8",
        "-1 * * * *",
        "1.5 * * * *",
        "a * * * *",
        "5/10 * * * *",  # a plain number cannot be stepped
        "*/0 * * * *",
        "*/05 * * * *",  # FILTER_VALIDATE_INT refuses leading zeros
        "*/x * * * *",
        "1-2-3 * * * *",
        "*-5 * * * *",
        "1,,2 * * * *",
        "? * * * *",
        "* ? * * *",
        "* * * ? *",
        "L * * * *",
        "* * * * L",
        "* * 1,L * *",
        "* * 1W,2 * *",
        "* * 15w * *",  # L, W and # are case-sensitive
        "* * W * *",
        "* * * * 1#6",
        "* * * * 1#0",
        "* * * * 1#x",
        "* * * JANUARY *",
        "@reboot",
        " @daily",
        "@daily *",
    ],
)
def test_invalid(expression: str) -> None:
    assert not is_valid(expression)


def test_blank_schedules() -> None:
    assert is_blank("") and is_blank("0")
    assert not is_blank(" ") and not is_blank("* * * * *")


NOW = datetime(2024, 5, 5, 12, 34, 56, tzinfo=UTC)  # a Sunday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * * * *", at(2024, 5, 5, 12, 35)),
        ("*/15 * * * *", at(2024, 5, 5, 12, 45)),
        ("34 12 * * *", at(2024, 5, 6, 12, 34)),  # 12:34 itself is not after 12:34:56
        ("0 0 1 1 *", at(2025, 1, 1)),
        ("@yearly", at(2025, 1, 1)),
        ("@weekly", at(2024, 5, 12)),
        ("@hourly", at(2024, 5, 5, 13)),
        ("0 9 * * MON-FRI", at(2024, 5, 6, 9)),
        ("0 9 * jun,DEC *", at(2024, 6, 1, 9)),
        ("0 0 L * *", at(2024, 5, 31)),
        ("0 0 L 2 *", at(2025, 2, 28)),
        ("0 0 29 2 *", at(2028, 2, 29)),
        ("0 0 * * 5L", at(2024, 5, 31)),
        ("0 0 * * 1#2", at(2024, 5, 13)),
        ("0 0 * * 7", at(2024, 5, 12)),
        ("0 0 * * 0", at(2024, 5, 12)),
        ("0 0 * * 5-0", at(2024, 5, 10)),  # "0" as a range end means Sunday (7)
        ("0 0 13 * 5", at(2024, 5, 10)),  # day-of-month OR day-of-week
        ("0 0 6 * 5", at(2024, 5, 6)),
        ("0 0 ? * 3", at(2024, 5, 8)),
        ("0 0 20 * ?", at(2024, 5, 20)),
        ("*/90 * * * *", at(2024, 5, 5, 13, 30)),  # a step over 59 wraps to one minute: 90 % 60
        ("0 */25 * * *", at(2024, 5, 6, 1)),
        ("0-10/15 * * * *", at(2024, 5, 5, 13, 0)),  # step beyond the range: only its start
    ],
)
def test_next_after(expression: str, expected: datetime) -> None:
    assert next_after(expression, NOW) == expected


def test_next_after_is_strictly_after_a_whole_minute() -> None:
    assert next_after("*/15 * * * *", at(2024, 1, 1, 12, 15)) == at(2024, 1, 1, 12, 30)
    assert next_after("* * * * *", at(2024, 1, 1, 12, 0)) == at(2024, 1, 1, 12, 1)


def test_next_after_converts_to_utc_and_returns_whole_minutes() -> None:
    plus_two = timezone(timedelta(hours=2))
    result = next_after("0 * * * *", datetime(2024, 1, 1, 12, 30, 5, 123, tzinfo=plus_two))
    assert result == at(2024, 1, 1, 11)
    assert result.tzinfo is UTC and result.second == 0 and result.microsecond == 0


def test_nearest_weekday() -> None:
    # 15 July 2023 is a Saturday: the run is on Friday the 14th.
    assert next_after("0 0 15W * *", at(2023, 7, 1)) == at(2023, 7, 14)
    # 1 July 2023 is a Saturday too; 1W does not leave the month, so Monday the 3rd.
    assert next_after("0 0 1W * *", at(2023, 6, 30, 12)) == at(2023, 7, 3)


def test_impossible_and_broken_expressions_raise() -> None:
    for expression in ("0 0 30 2 *", "5-1 * * * *", "5-1/2 * * * *", "0 0 * JAN/2 *"):
        with pytest.raises(ValueError):
            next_after(expression, NOW)
    with pytest.raises(CronError):
        next_after("0 0 31 2 *", NOW)
    with pytest.raises(ValueError, match="not a valid"):
        next_after("* * * * * *", NOW)


def test_matches_between() -> None:
    runs = matches_between("*/15 * * * *", at(2024, 1, 1, 12), at(2024, 1, 1, 13))
    assert runs == [at(2024, 1, 1, 12, m) for m in (15, 30, 45)] + [at(2024, 1, 1, 13)]
    assert matches_between("* * * * *", at(2024, 1, 1), at(2024, 1, 2)) == [
        at(2024, 1, 1) + timedelta(minutes=i + 1) for i in range(1440)
    ]
    assert matches_between("0 0 1 1 *", at(2024, 1, 2), at(2024, 12, 31)) == []
    assert matches_between("0 0 29 2 *", at(2023, 1, 1), at(2033, 1, 1)) == [
        at(2024, 2, 29),
        at(2028, 2, 29),
        at(2032, 2, 29),
    ]
