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

_BRACKETS = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])+)$")


def php_params(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Fold `key[]=a`, `key[0]=a`, `key[k]=v` pairs into lists and dicts, as PHP does."""
    result: dict[str, Any] = {}
    for raw_key, value in pairs:
        match = _BRACKETS.match(raw_key)
        if not match:
            result[raw_key] = value
            continue
        name, suffix = match.group(1), match.group(2)
        parts = re.findall(r"\[([^\[\]]*)\]", suffix)
        container: Any = result
        key: Any = name
        for part in parts:
            current = container.get(key) if isinstance(container, dict) else None
            if part == "" or part.isdigit():
                if not isinstance(current, list):
                    current = []
                    container[key] = current
                if part == "":
                    current.append(None)
                    key = len(current) - 1
                else:
                    index = int(part)
                    while len(current) <= index:
                        current.append(None)
                    key = index
            else:
                if not isinstance(current, dict):
                    current = {}
                    container[key] = current
                key = part
            container = current
        container[key] = value
    return {k: _compact(v) for k, v in result.items()}


def _compact(value: Any) -> Any:
    if isinstance(value, list):
        return [_compact(v) for v in value if v is not None]
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    return value


def _json_object(body: bytes) -> dict[str, Any]:
    """A JSON body as PHP's `json_decode` would take it: anything it rejects becomes `{}`."""
    try:
        value = json.loads(body or b"{}")
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates: PHP rejects them
    except (ValueError, RecursionError, UnicodeEncodeError):
        return {}
    return value if isinstance(value, dict) else {}


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
