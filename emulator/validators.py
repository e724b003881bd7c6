"""Param validators with the exact failure texts of Appwrite 1.3 (utopia-php 0.28 / database 0.36).

`check(value)` returns None when valid, else the text that follows "Invalid <param>: ".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from emulator import cron, events


class Validator(Protocol):
    def check(self, value: object) -> str | None: ...


_INT64 = range(-(2**63), 2**63)
_PHP_INT_STRING = re.compile(r"[ \t\n\r\v\f]*[+-]?[0-9]+[ \t\n\r\v\f]*")
_KEY_CHARS = re.compile(r"[A-Za-z0-9_.-]*")
_KEY_TEXT = (
    "Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen,"
    " and underscore. Can't start with a special char"
)
_UID_TEXT = (
    "UID must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, and underscore."
    " Can't start with a leading underscore"
)


class Text:
    def __init__(self, max_length: int, min_length: int = 1) -> None:
        self.max_length, self.min_length = max_length, min_length
        self.description = "Value must be a valid string"
        if min_length:
            self.description += f" and at least {min_length} chars"
        if max_length:
            self.description += f" and no longer than {max_length} chars"

    def check(self, value: object) -> str | None:
        if not isinstance(value, str) or len(value) < self.min_length:
            return self.description
        if self.max_length and len(value) > self.max_length:
            return self.description
        return None


class Range:
    def __init__(self, minimum: int, maximum: int) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.description = f"Value must be a valid range between {minimum:,} and {maximum:,}"

    def check(self, value: object) -> str | None:
        number = _php_int(value)
        if number is None or not self.minimum <= number <= self.maximum:
            return self.description
        return None


class Boolean:
    description = "Value must be a valid boolean"

    def __init__(self, loose: bool = False) -> None:
        self.loose = loose

    def check(self, value: object) -> str | None:
        if isinstance(value, bool):
            return None
        if self.loose and value in ("true", "false", "1", "0") and isinstance(value, str):
            return None
        if self.loose and type(value) is int and value in (0, 1):
            return None
        return self.description


class WhiteList:
    def __init__(self, values: Sequence[str]) -> None:
        self.values = tuple(values)
        self.description = f"Value must be one of ({', '.join(self.values)})"

    def check(self, value: object) -> str | None:
        return None if isinstance(value, str) and value in self.values else self.description


class ArrayList:
    def __init__(self, inner: Validator, max_length: int = 0) -> None:
        self.inner, self.max_length = inner, max_length
        self.description = "Value must a valid array and " + str(getattr(inner, "description", ""))

    def check(self, value: object) -> str | None:
        if not isinstance(value, list) or (self.max_length and len(value) > self.max_length):
            return self.description
        for item in value:
            problem = self.inner.check(item)
            if problem is not None:
                return "Value must a valid array and " + problem
        return None


class UID:
    description = _UID_TEXT

    def check(self, value: object) -> str | None:
        return None if is_key(value) else self.description


class CustomId:
    description = _KEY_TEXT

    def check(self, value: object) -> str | None:
        return None if value == "unique()" or is_key(value) else self.description


class Roles:
    """utopia-php/database Roles: the message depends on which rule failed."""

    ROLES = ("any", "guests", "users", "user", "team", "member")
    description = "Roles Error"

    def __init__(self, max_roles: int = 100) -> None:
        self.max_roles = max_roles

    def check(self, value: object) -> str | None:
        if not isinstance(value, list):
            return "Roles must be an array of strings."
        if self.max_roles and len(value) > self.max_roles:
            return f"You can only provide up to {self.max_roles} roles."
        for role in value:
            problem = _role_problem(role)
            if problem is not None:
                return problem
        return None


class Cron:
    description = "String must be a valid cron expression"

    def check(self, value: object) -> str | None:
        if isinstance(value, str) and (cron.is_blank(value) or cron.is_valid(value)):
            return None
        return self.description


class EventName:
    description = "Event is not valid."

    def check(self, value: object) -> str | None:
        valid = isinstance(value, str) and events.is_valid_event(value)
        return None if valid else self.description


def to_int(value: object) -> int:
    """The integer a value that passed Range stands for ("5" -> 5)."""
    number = _php_int(value)
    if number is None:
        raise ValueError(f"not an integer: {value!r}")
    return number


def to_bool(value: object) -> bool:
    """The boolean a value that passed Boolean stands for (loose "false"/"0"/0 -> False)."""
    if isinstance(value, bool):
        return value
    if value in ("true", "1", 1):
        return True
    if value in ("false", "0", 0):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def is_key(value: object) -> bool:
    """utopia-php/database Key: at most 36 of [A-Za-z0-9_.-], not led by _ . or -; "" passes."""
    if not isinstance(value, str) or len(value) > 36 or value[:1] in ("_", ".", "-"):
        return False
    return _KEY_CHARS.fullmatch(value) is not None


def _php_int(value: object) -> int | None:
    """`$value + 0` is an int (Range's test): ints and integer strings in 64-bit range."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value in _INT64 else None
    if isinstance(value, str) and _PHP_INT_STRING.fullmatch(value):
        number = int(value.strip(" \t\n\r\v\f"))
        return number if number in _INT64 else None
    return None


def _php_empty(text: str) -> bool:
    return text in ("", "0")


def _role_problem(role: object) -> str | None:
    if not isinstance(role, str):
        return "Every role must be of type string."
    if role == "*":
        return 'Wildcard role "*" has been replaced. Use "any" instead.'
    if "role:" in role:
        return (
            'Roles using the "role:" prefix have been removed.'
            ' Use "users", "guests", or "any" instead.'
        )
    allowed = ", ".join(Roles.ROLES)
    if not role.startswith(Roles.ROLES):
        return f'Role "{role}" is not allowed. Must be one of: {allowed}.'
    parts = role.split(":")
    name, identifier, dimension = parts[0], "", ""
    if "/" in role:
        pieces = (parts[1] if len(parts) > 1 else role).split("/")
        if len(pieces) != 2:
            return "Only one dimension can be provided."
        if _php_empty(pieces[1]):
            return "Dimension must not be empty."
        if len(parts) == 1:
            name = pieces[0]
        identifier, dimension = (pieces[0] if len(parts) > 1 else ""), pieces[1]
    elif len(parts) > 1:
        identifier = parts[1]
    return _role_rule_problem(name, identifier, dimension)


_ROLE_RULES = {  # name: (identifier allowed, identifier required, dimension allowed, options)
    "any": (False, False, False, None),
    "guests": (False, False, False, None),
    "users": (False, False, True, ("verified", "unverified")),
    "user": (True, True, True, ("verified", "unverified")),
    "team": (True, True, True, None),
    "member": (True, True, False, None),
}


def _role_rule_problem(name: str, identifier: str, dimension: str) -> str | None:
    rule = _ROLE_RULES.get(name)
    if rule is None:
        return f'Role "{name}" is not allowed. Must be one of: {", ".join(Roles.ROLES)}.'
    id_allowed, id_required, dim_allowed, options = rule
    if not id_allowed and not _php_empty(identifier):
        return f'Role "{name}" can not have an ID value.'
    if id_allowed and id_required and _php_empty(identifier):
        return f'Role "{name}" must have an ID value.'
    if id_allowed and not _php_empty(identifier) and not is_key(identifier):
        return f'Role "{name}" identifier value is invalid: {_KEY_TEXT}'
    if not dim_allowed and not _php_empty(dimension):
        return f'Role "{name}" can not have a dimension value.'
    if dim_allowed and not _php_empty(dimension):
        if options is not None and dimension not in options:
            return (
                f'Role "{name}" dimension value is invalid. Must be one of: {", ".join(options)}.'
            )
        if not is_key(dimension):
            return f'Role "{name}" dimension value is invalid: {_KEY_TEXT}'
    return None
