"""Param validators: acceptance rules and the exact 1.3 failure texts."""

from __future__ import annotations

import pytest

from emulator.validators import (
    UID,
    ArrayList,
    Boolean,
    Cron,
    CustomId,
    EventName,
    Range,
    Roles,
    Text,
    WhiteList,
    to_bool,
    to_int,
)

KEY_TEXT = (
    "Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen,"
    " and underscore. Can't start with a special char"
)
UID_TEXT = (
    "UID must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, and underscore."
    " Can't start with a leading underscore"
)
ROLE_LIST = "any, guests, users, user, team, member"


def test_text() -> None:
    name = Text(128)
    text = "Value must be a valid string and at least 1 chars and no longer than 128 chars"
    assert name.check("x" * 128) is None
    assert name.check("é" * 128) is None  # counted in characters, like mb_strlen
    for bad in ("", "x" * 129, 5, None, ["a"]):
        assert name.check(bad) == text
    optional = Text(8192, 0)
    assert optional.check("") is None
    assert (
        optional.check("x" * 8193) == "Value must be a valid string and no longer than 8192 chars"
    )


def test_range() -> None:
    timeout = Range(1, 900)
    for good in (1, 900, "5", " 7", "+9", "900 "):
        assert timeout.check(good) is None
    for bad in (0, 901, True, 5.0, "5.0", "1e2", "abc", "", None, [5], 2**63):
        assert timeout.check(bad) == "Value must be a valid range between 1 and 900"
    big = Range(0, 2**63 - 1)
    assert big.check(1) is None
    assert big.check(-1) == "Value must be a valid range between 0 and 9,223,372,036,854,775,807"
    assert Range(-1000, 5000).check(6000) == "Value must be a valid range between -1,000 and 5,000"


def test_boolean() -> None:
    strict, loose = Boolean(), Boolean(loose=True)
    for good in (True, False):
        assert strict.check(good) is None
        assert loose.check(good) is None
    for loose_only in ("true", "false", "1", "0", 1, 0):
        assert loose.check(loose_only) is None
        assert strict.check(loose_only) == "Value must be a valid boolean"
    for bad in ("TRUE", "yes", 2, 1.0, None, ""):
        assert loose.check(bad) == "Value must be a valid boolean"


def test_whitelist_is_strict() -> None:
    runtimes = WhiteList(["node-18.0", "python-3.10"])
    assert runtimes.check("python-3.10") is None
    for bad in ("Python-3.10", "ruby", 3, None):
        assert runtimes.check(bad) == "Value must be one of (node-18.0, python-3.10)"


def test_array_list() -> None:
    events = ArrayList(EventName(), 100)
    assert events.check([]) is None
    assert events.check(["users.*.create"]) is None
    text = "Value must a valid array and Event is not valid."
    assert events.description == text
    assert events.check(["users.*.create", "nope"]) == text
    assert events.check("users.*.create") == text
    assert events.check(["users.*.create"] * 101) == text
    names = ArrayList(Text(3))
    assert names.check(["a"] * 500) is None
    assert names.check(["abcd"]) == (
        "Value must a valid array and Value must be a valid string and at least 1 chars"
        " and no longer than 3 chars"
    )


def test_uid() -> None:
    uid = UID()
    for good in ("abc", "a.b-c_d", "A" * 36, "5", ""):
        assert uid.check(good) is None
    for bad in ("_abc", ".abc", "-abc", "a" * 37, "a b", "a$b", "é", "unique()", 5, None):
        assert uid.check(bad) == UID_TEXT


def test_custom_id() -> None:
    custom = CustomId()
    for good in ("unique()", "myFunction", "my.func-1_x", "a" * 36, ""):
        assert custom.check(good) is None
    for bad in ("_x", ".x", "-x", "a" * 37, "my function", "UNIQUE()", "$id", None, 1):
        assert custom.check(bad) == KEY_TEXT


@pytest.mark.parametrize(
    "roles",
    [
        [],
        ["any"],
        ["guests", "users", "users/verified", "users/unverified"],
        ["user:abc", "user:abc/verified", "user:abc/unverified"],
        ["team:t1", "team:t1/owner", "team:t1/my-role", "member:m1"],
        ["user:a:b"],  # only the part after the first colon is read
        ["any:0"],  # "0" is empty() in PHP, so this is "any" without an identifier
    ],
)
def test_valid_roles(roles: list[str]) -> None:
    assert Roles().check(roles) is None


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ("any", "Roles must be an array of strings."),
        ({"a": "any"}, "Roles must be an array of strings."),
        (["any"] * 101, "You can only provide up to 100 roles."),
        (["any", 5], "Every role must be of type string."),
        (["*"], 'Wildcard role "*" has been replaced. Use "any" instead.'),
        (
            ["role:all"],
            'Roles using the "role:" prefix have been removed. Use "users", "guests", or "any"'
            " instead.",
        ),
        (
            ["some-random-string"],
            f'Role "some-random-string" is not allowed. Must be one of: {ROLE_LIST}.',
        ),
        (["userx:abc"], f'Role "userx" is not allowed. Must be one of: {ROLE_LIST}.'),
        (["users/verified/x"], "Only one dimension can be provided."),
        (["user:a/b/c"], "Only one dimension can be provided."),
        (["team:a:b/c"], "Only one dimension can be provided."),
        (["users/"], "Dimension must not be empty."),
        (["team:t/0"], "Dimension must not be empty."),
        (["any:abc"], 'Role "any" can not have an ID value.'),
        (["guests:abc"], 'Role "guests" can not have an ID value.'),
        (["users:abc"], 'Role "users" can not have an ID value.'),
        (["user"], 'Role "user" must have an ID value.'),
        (["team"], 'Role "team" must have an ID value.'),
        (["member:"], 'Role "member" must have an ID value.'),
        (["user:0"], 'Role "user" must have an ID value.'),
        (["user:_bad"], f'Role "user" identifier value is invalid: {KEY_TEXT}'),
        (["team:" + "a" * 37], f'Role "team" identifier value is invalid: {KEY_TEXT}'),
        (["any/verified"], 'Role "any" can not have a dimension value.'),
        (["member:m/owner"], 'Role "member" can not have a dimension value.'),
        (
            ["users/admins"],
            'Role "users" dimension value is invalid. Must be one of: verified, unverified.',
        ),
        (
            ["user:abc/owner"],
            'Role "user" dimension value is invalid. Must be one of: verified, unverified.',
        ),
        (["team:t/_owner"], f'Role "team" dimension value is invalid: {KEY_TEXT}'),
        (["any", "*", "role:x"], 'Wildcard role "*" has been replaced. Use "any" instead.'),
    ],
)
def test_role_messages(roles: object, message: str) -> None:
    assert Roles().check(roles) == message


def test_cron_validator() -> None:
    cron = Cron()
    for good in ("", "0", "0 0 1 1 *", "@daily", "*/5 * * * *"):
        assert cron.check(good) is None
    for bad in ("* * * * * *", "nope", 5, None):
        assert cron.check(bad) == "String must be a valid cron expression"


def test_event_validator() -> None:
    assert EventName().check("functions.*") is None
    for bad in ("users", 5, None):
        assert EventName().check(bad) == "Event is not valid."


def test_conversions() -> None:
    assert [to_int(v) for v in (5, "5", " 7 ", "+9", "-3")] == [5, 5, 7, 9, -3]
    assert [to_bool(v) for v in (True, "true", "1", 1)] == [True] * 4
    assert [to_bool(v) for v in (False, "false", "0", 0)] == [False] * 4
    with pytest.raises(ValueError):
        to_int("5.5")
    with pytest.raises(ValueError):
        to_bool("yes")
