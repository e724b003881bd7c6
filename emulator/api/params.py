"""Request parameters the way Appwrite 1.3 reads them, and their validation in declared order."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from emulator.errors import GeneralArgumentInvalid
from emulator.validators import Validator

MAX_INPUT_VARS = 1000
"""PHP's `max_input_vars`: pairs past this many are dropped."""
MAX_INPUT_NESTING = 64
"""PHP's `max_input_nesting_level`: a variable with more bracket levels is dropped whole."""
MAX_JSON_DEPTH = 512
"""PHP's `json_decode` depth: a body nested deeper is not JSON to 1.3."""
_INT_KEY = re.compile(r"0|-?[1-9][0-9]*")
_INT64 = 2**63

Key = int | str


class _PhpArray:
    """A PHP array: an ordered map with integer and string keys and a next free integer index."""

    __slots__ = ("items", "next_index")

    def __init__(self) -> None:
        self.items: dict[Key, Any] = {}
        self.next_index = 0

    def next_key(self) -> int | None:
        """The key `[]` takes, or None when the largest integer key is PHP_INT_MAX."""
        return self.next_index if self.next_index < _INT64 else None

    def set(self, key: Key, value: Any) -> None:
        if isinstance(key, int) and key >= self.next_index:
            self.next_index = key + 1
        self.items[key] = value

    def export(self) -> list[Any] | dict[str, Any]:
        """A list when every key is an integer (in the order the keys came), else a dict."""
        if all(isinstance(key, int) for key in self.items):
            return [_export(value) for value in self.items.values()]
        return {str(key): _export(value) for key, value in self.items.items()}


def _export(value: Any) -> Any:
    return value.export() if isinstance(value, _PhpArray) else value


def _array_key(index: str) -> Key:
    """PHP's numeric-string rule for array keys: canonical decimal integers become integers."""
    if _INT_KEY.fullmatch(index):
        number = int(index)
        if -_INT64 <= number < _INT64:
            return number
    return index


def _split_name(raw: str) -> tuple[str, list[str] | None]:
    """A variable name and its bracket indexes, as PHP reads `name[a][]...`; the indexes are
    None when the name has more than `MAX_INPUT_NESTING` bracket levels.

    Spaces and dots in the name become `_`. An unclosed `[` right after the name becomes `_` too
    (with the rest of the key), and anything after a `]` that is not another `[` is ignored.
    """
    name = raw.lstrip(" ")
    start = name.find("[")
    base = (name if start < 0 else name[:start]).replace(" ", "_").replace(".", "_")
    indexes: list[str] = []
    while start >= 0:
        if len(indexes) == MAX_INPUT_NESTING:
            return base, None
        close = name.find("]", start + 1)
        if close < 0:
            if not indexes:
                rest = name[start + 1 :]
                base += "_" + rest.replace(" ", "_").replace(".", "_").replace("[", "_")
            break
        indexes.append(name[start + 1 : close])
        start = close + 1 if name[close + 1 : close + 2] == "[" else -1
    return base, indexes


def php_params(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Fold `key[]=a`, `key[N]=a`, `key[k]=v` pairs into lists and dicts, as PHP does.

    Each bracket level is a map, so `key[30000000]=x` costs one entry; maps whose keys are all
    integers come out as lists in the order the keys came. Like PHP with its default settings,
    only the first `MAX_INPUT_VARS` pairs count, and a variable nested deeper than
    `MAX_INPUT_NESTING` levels is dropped (with what earlier pairs had set under its name).
    """
    result: dict[str, Any] = {}
    for count, (raw_key, value) in enumerate(pairs):
        if count >= MAX_INPUT_VARS:
            break
        name, indexes = _split_name(raw_key)
        if not name:
            continue
        if indexes is None:
            result.pop(name, None)
            continue
        if not indexes:
            result[name] = value
            continue
        array = result.get(name)
        if not isinstance(array, _PhpArray):
            array = result[name] = _PhpArray()
        for position, index in enumerate(indexes):
            key = array.next_key() if index == "" else _array_key(index)
            if key is None:
                break  # PHP: "the next element is already occupied"
            if position == len(indexes) - 1:
                array.set(key, value)
                break
            inner = array.items.get(key)
            if not isinstance(inner, _PhpArray):
                inner = _PhpArray()
                array.set(key, inner)
            array = inner
    return {name: _export(value) for name, value in result.items()}


def _too_deep(value: Any, limit: int) -> bool:
    """Whether containers in `value` nest more than `limit` levels (without recursion)."""
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        children = current.values() if isinstance(current, dict) else current
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _json_object(body: bytes) -> dict[str, Any]:
    """A JSON body as PHP's `json_decode` would take it: anything it rejects becomes `{}`."""
    try:
        value = json.loads(body or b"{}")
        if not isinstance(value, dict):
            return {}
        # Nesting needs brackets, and a lone surrogate (which PHP rejects) an escape or raw
        # UTF-8 of one: most bodies have neither, and skip the walks.
        if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _too_deep(
            value, MAX_JSON_DEPTH
        ):
            return {}
        if b"\\u" in body or b"\xed" in body:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError, UnicodeEncodeError):
        return {}
    return value


async def read_params(request: Request) -> dict[str, Any]:
    """The request's parameters as 1.3 reads them: the query string for GET, else only the body
    (JSON, or form/multipart); a body that cannot be parsed counts as empty."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return php_params(request.query_params.multi_items())
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        return _json_object(await request.body())
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        try:
            form = await request.form(
                max_files=10, max_fields=10_000, max_part_size=64 * 1024 * 1024
            )
        except (HTTPException, MultiPartException):
            return {}
        return php_params(form.multi_items())
    return {}


@dataclass(frozen=True)
class Param:
    """One declared parameter of a route."""

    name: str
    validator: Validator | None = None
    optional: bool = False
    default: Any = None
    convert: Callable[[Any], Any] | None = None


def validate(raw: Mapping[str, Any], specs: Sequence[Param]) -> dict[str, Any]:
    """Check `raw` against `specs` in order; the first failure wins, as in 1.3.

    An optional parameter that is absent or `null` takes its default (1.3 would fail with a 500 on
    some explicit nulls; taking the default is what the caller meant).

    Raises:
        GeneralArgumentInvalid: `Param "x" is not optional.` or `Invalid x: <description>`.
    """
    values: dict[str, Any] = {}
    for spec in specs:
        value = raw.get(spec.name)
        if isinstance(value, UploadFile) and spec.validator is not None:
            value = None  # a file part is not a plain parameter: 1.3 does not see it as one
            present = False
        else:
            present = spec.name in raw
        if not present and not spec.optional:
            raise GeneralArgumentInvalid(f'Param "{spec.name}" is not optional.')
        if value is None and spec.optional:
            values[spec.name] = spec.default
            continue
        if spec.validator is not None and not isinstance(value, UploadFile):
            problem = spec.validator.check(value)
            if problem is not None:
                raise GeneralArgumentInvalid(f"Invalid {spec.name}: {problem}")
        values[spec.name] = spec.convert(value) if spec.convert else value
    return values
