"""List `queries` for 1.3: the utopia-php/database 0.36 string grammar, Appwrite's per-list
validators with their exact messages, and the resulting `ListQuery`; plus the `search` matcher.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from emulator.errors import GeneralArgumentInvalid, GeneralUnknown

AttrType = Literal["string", "integer", "double", "boolean", "datetime"]
Schema = Mapping[str, AttrType]

FUNCTIONS_SCHEMA: Schema = {
    "name": "string",
    "enabled": "boolean",
    "runtime": "string",
    "deployment": "string",
    "schedule": "string",
    "scheduleNext": "datetime",
    "schedulePrevious": "datetime",
    "timeout": "integer",
}
DEPLOYMENTS_SCHEMA: Schema = {
    "entrypoint": "string",
    "size": "integer",
    "buildId": "string",
    "activate": "boolean",
}
EXECUTIONS_SCHEMA: Schema = {
    "trigger": "string",
    "status": "string",
    "statusCode": "integer",
    "duration": "double",
}
_SYSTEM_SCHEMA: Schema = {"$id": "string", "$createdAt": "datetime", "$updatedAt": "datetime"}


@dataclass(frozen=True)
class Filter:
    method: str
    attribute: str
    values: tuple[object, ...]  # type-checked; () for isNull/isNotNull, and for `equal("name")`


@dataclass(frozen=True)
class Order:
    attribute: str  # "" means natural (insertion) order
    descending: bool


@dataclass(frozen=True)
class ListQuery:
    filters: tuple[Filter, ...] = ()
    orders: tuple[Order, ...] = ()
    limit: int = 25
    offset: int = 0
    cursor: str | None = None  # may be "": it passes validation, then no document has that id
    cursor_before: bool = False
    select: tuple[str, ...] | None = None


FILTER_METHODS = frozenset(
    "equal notEqual lessThan lessThanEqual greaterThan greaterThanEqual"  # noqa: SIM905
    " search isNull isNotNull between startsWith endsWith".split()
)
_PARSED_AS_FILTER = (FILTER_METHODS - {"between"}) | {"contains"}
MAX_VALUES = 100
INT64_MAX = 2**63 - 1
# PHP < 8.3 `number_format()` makes PHP_INT_MAX a float first: 1.3 prints ...808, not ...807.
_RANGE = "Value must be a valid range between 0 and 9,223,372,036,854,775,808"
_UID = (
    "UID must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, and underscore. "
    "Can't start with a leading underscore"
)
_NUMERIC = re.compile(
    r"[ \t\n\r\v\f]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t\n\r\v\f]*"
)
_UID_CHARS = re.compile(r"[A-Za-z0-9_.-]*")


class _ParseError(Exception):
    """`Query::parse` threw (an Exception or a PHP TypeError)."""


def _php_numeric(text: str) -> int | float | None:
    """PHP's `is_numeric($text) ? $text + 0 : null`."""
    match = _NUMERIC.fullmatch(text)
    if match is None:
        return None
    body = match.group(1)
    if not any(c in body for c in ".eE") and -(2**63) <= int(body) <= INT64_MAX:
        return int(body)
    return float(body)


def _php_str(value: object) -> str:
    """How PHP turns a parsed scalar into a string (`(string)`, string interpolation)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "NAN" if math.isnan(value) else ("INF" if value > 0 else "-INF")
        text = f"{value:.14G}"
        if "E" not in text:
            return text
        mantissa, exponent = text.split("E")
        mantissa += "" if "." in mantissa else ".0"
        return f"{mantissa}E{exponent[0]}{exponent[1:].lstrip('0') or '0'}"
    return "" if value is None else "Array"


def _parse_value(raw: str) -> object:
    value = raw.strip(" \t\n\r\0\x0b")
    literals: dict[str, object] = {"false": False, "true": True, "null": None}
    if value in literals:
        return literals[value]
    number = _php_numeric(value)
    if number is not None:
        return number
    return value[1:-1] if value.startswith(('"', "'")) else value


def _split_params(text: str, start: int) -> list[str | list[str]]:
    """The character loop of `Query::parse`: from after `(` up to the char before the last one."""
    params: list[str | list[str]] = []
    array: list[str]
    current, array, depth, quote, i = "", [], 0, "", start
    while i < len(text) - 1:
        char, in_string = text[i], quote != ""
        in_array = not in_string and depth > 0
        if char == "\\":  # keep the backslash unless it escapes , [ ] " '
            escaped = text[i + 1]
            for symbol in (char, escaped) if escaped not in ",[]\"'" else (escaped,):
                current += symbol if in_string or symbol not in " ," else ""
            i += 2
            continue
        if char in "\"'":
            quote = char if not in_string else ("" if char == quote else quote)
            current += char
        elif not in_string and char == "[":
            depth += 1
        elif not in_string and char == "]":
            depth -= 1
            params.append([*array, current] if current else array)
            current, array = "", []
        elif not in_string and char == ",":
            if in_array:
                array.append(current)
                current = ""
            elif not array:  # (always empty outside brackets, but that is how PHP reads)
                params += [current] if current else []
                current = ""
        elif in_string or char != " ":
            current += char
        i += 1
    if current:
        params.append(current)
    return params


def _attribute(value: object) -> str:
    if isinstance(value, list) or value is None:
        raise _ParseError  # TypeError: a string attribute is required
    return _php_str(value)


def _parse(query: str) -> tuple[str, str, list[object]]:
    """`Query::parse` of 0.36: (method, attribute, values), or `_ParseError`."""
    start = query.find("(")
    if start < 0 or "." in query[:start]:
        raise _ParseError
    method = query[:start]
    parsed: list[object] = [
        [_parse_value(e) for e in p] if isinstance(p, list) else _parse_value(p)
        for p in _split_params(query, start + 1)
    ]
    first = parsed[0] if parsed else None
    if method in _PARSED_AS_FILTER:
        if len(parsed) < 2:
            return method, _attribute("" if first is None else first), []
        second = parsed[1]
        values = second if isinstance(second, list) else [second]
        return method, _attribute("" if first is None else first), values
    if method == "between":
        rest = [*parsed[1:3], None, None][:2]
        # Deviation: also take the SDK 2.0.2 form `between("a", [1, 2])`, which 1.3 rejects.
        if len(parsed) == 2 and isinstance(parsed[1], list) and len(parsed[1]) == 2:
            rest = list(parsed[1])
        return method, _attribute(first), rest
    if method == "select":
        if not isinstance(first, list):
            raise _ParseError
        return method, "", first
    if method in ("orderAsc", "orderDesc"):
        return method, _attribute("" if first is None else first), []
    if method in ("limit", "offset", "cursorAfter", "cursorBefore"):
        return method, "", parsed[:1]
    return method, "", []


def _type_matches(expected: AttrType, value: object) -> bool:
    if expected == "double":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)  # string and datetime


def _filter_error(schema: Schema, attribute: str, values: list[object]) -> str | None:
    top = attribute.split(".")[0]
    if top != attribute and top in schema:
        return f"Cannot query nested attribute on: {top}"
    if top not in schema:
        return f"Attribute not found in schema: {top}"
    if len(values) > MAX_VALUES:
        return f"Query on attribute has greater than {MAX_VALUES} values: {top}"
    expected = schema[top]
    if any(not _type_matches(expected, value) for value in values):
        return f"Query type does not match expected: {expected}"
    return None


def _range_value(value: object) -> int | None:
    """`Range(0, PHP_INT_MAX)` of utopia-php/framework: ints or numeric strings of ints."""
    number = _php_numeric(value) if isinstance(value, str) else value
    if isinstance(number, int) and not isinstance(number, bool) and 0 <= number <= INT64_MAX:
        return number
    return None


def _is_uid(value: str) -> bool:
    """The Key rule behind 1.3's UID validator (the empty string passes)."""
    return (
        len(value) <= 36
        and _UID_CHARS.fullmatch(value) is not None
        and not value.startswith(("_", ".", "-"))
    )


def _invalid(detail: str) -> GeneralArgumentInvalid:
    return GeneralArgumentInvalid(f"Invalid queries: {detail}")


def parse_queries(raw: object, schema: Schema, *, allow_select: bool = False) -> ListQuery:
    """Validate the `queries` parameter like 1.3's `Queries\\Base` validator and parse it.

    None or "" mean "not sent". A JSON object is read as its values (PHP arrays are maps). Any other
    non-list reaches 1.3's handler unvalidated and dies on its `array` type: 500 "Server Error".
    1.3 rejects `select` on these lists ("Query method not valid: select"); `allow_select=True`
    validates it instead, against the schema or `*`.
    """
    if raw is None or raw == "":
        return ListQuery()
    if isinstance(raw, Mapping):
        raw = list(raw.values())
    if not isinstance(raw, list | tuple):
        raise GeneralUnknown()
    full: Schema = {**schema, **_SYSTEM_SCHEMA}
    filters: list[Filter] = []
    orders: list[Order] = []
    paging: dict[str, int] = {}  # only the first limit and offset count
    cursor: tuple[str, bool] | None = None  # nor does any cursor but the first
    selected: list[str] | None = None
    for item in raw:
        try:
            if not isinstance(item, str):
                raise _ParseError
            method, attribute, values = _parse(item)
        except _ParseError:
            raise _invalid(f"Invalid query: {_php_str(item)}") from None
        error: str | None = None
        if method in FILTER_METHODS:
            error = _filter_error(full, attribute, values)
            filters.append(Filter(method, attribute, tuple(values)))
        elif method in ("orderAsc", "orderDesc"):
            if attribute and attribute not in full:
                error = f"Attribute not found in schema: {attribute}"
            orders.append(Order(attribute, method == "orderDesc"))
        elif method in ("limit", "offset"):
            number = _range_value(values[0] if values else None)
            if number is None:
                error = f"Invalid {method}: {_RANGE}"
            else:
                paging.setdefault(method, number)
        elif method in ("cursorAfter", "cursorBefore"):
            value = values[0] if values else None
            if not isinstance(value, str) or not _is_uid(value):
                error = f"Invalid cursor: {_UID}"
            elif cursor is None:
                cursor = (value, method == "cursorBefore")
        elif method == "select" and allow_select:
            names = [_php_str(value) for value in values]
            bad = [
                top for top in (n.split(".")[0] for n in names) if top not in full and top != "*"
            ]
            error = f"Attribute not found in schema: {bad[0]}" if bad else None
            selected = [*(selected or []), *names]
        else:
            raise _invalid(f"Query method not valid: {method}")
        if error is not None:
            raise _invalid(f"Query not valid: {error}")
    return ListQuery(
        filters=tuple(filters),
        orders=tuple(orders),
        limit=paging.get("limit", 25),
        offset=paging.get("offset", 0),
        cursor=cursor[0] if cursor else None,
        cursor_before=cursor[1] if cursor else False,
        select=tuple(selected) if selected is not None else None,
    )


# InnoDB's default full-text stopwords: never indexed, and ignored in a query unless truncated.
_STOPWORDS = frozenset(
    "a about an are as at be by com de en for from how i in is it la of on or that the this to"  # noqa: SIM905
    " was what when where who will with und www".split()
)
_WORD = re.compile(r"\w+")


def _indexed(token: str) -> bool:
    return len(token) >= 3 and token not in _STOPWORDS


def search_matches(document_text: str, term: str) -> bool:
    """MariaDB `MATCH(search) AGAINST('<term>*' IN BOOLEAN MODE)` after 1.3 blanks `@ + - *`.

    Word tokens (`\\w` runs), case-insensitive, any word may match. Words shorter than 3
    chars and stopwords are not indexed. The last query word, when the term ends with it, gets the
    `*` and matches as a prefix, even when it is short.
    """
    cleaned = re.sub(r"[@+\-*]", " ", term).strip(" \t\n\r\0\x0b")
    words = [w.lower() for w in _WORD.findall(cleaned)]
    if not words:
        return False
    document = {t for t in (w.lower() for w in _WORD.findall(document_text)) if _indexed(t)}
    last = words[-1]
    if re.search(r"\w$", cleaned):
        words.pop()
        if any(token.startswith(last) for token in document):
            return True
    return any(_indexed(word) and word in document for word in words)
