"""The project file: `PROJECT_DIR/appwrite.json` in the format appwrite-cli@2.0.2 reads and writes.

`read_project` never raises on bad content: it keeps what is valid and describes every problem in one
line naming the file and the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.catalog import CATALOGUE
from emulator.validators import (
    ArrayList,
    Boolean,
    Cron,
    EventName,
    Range,
    Roles,
    Text,
    is_key,
    to_int,
)

APPWRITE_JSON = "appwrite.json"
_NAME = Text(128)
_VARIABLE_KEY = Text(255)
_VARIABLE_VALUE = Text(8192, min_length=0)
_EVENTS = ArrayList(EventName(), 100)


@dataclass(frozen=True)
class ProjectFunction:
    """One entry of `functions`. A None setting was absent or invalid: the data dir's value stays."""

    id: str
    name: str | None
    runtime: str
    path: Path | None = None
    """The absolute folder to deploy; None when missing or not a folder (nothing is deployed)."""
    entrypoint: str | None = None
    execute: list[str] | None = None
    events: list[str] | None = None
    schedule: str | None = None
    timeout: int | None = None
    enabled: bool | None = None
    ignore: tuple[str, ...] | None = None
    """Gitignore patterns; None means the folder's `.gitignore`, as the CLI does."""
    variables: dict[str, str] | None = None
    """The function's variables; None leaves the data dir's variables alone."""

    @property
    def deployable(self) -> bool:
        return self.path is not None and self.entrypoint is not None


@dataclass(frozen=True)
class Project:
    file: Path
    exists: bool
    project_id: str | None = None
    functions: tuple[ProjectFunction, ...] = ()
    problems: tuple[str, ...] = field(default=())


def read_project(
    project_dir: Path, available_runtimes: Collection[str], max_timeout: int = 900
) -> Project:
    """Read and check `project_dir/appwrite.json`.

    Args:
        available_runtimes: the runtime IDs this emulator can run.
        max_timeout: the largest `timeout` allowed (`_APP_FUNCTIONS_TIMEOUT`).
    """
    file = project_dir / APPWRITE_JSON
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Project(file, exists=False)
    except (OSError, UnicodeDecodeError) as exc:
        return Project(file, True, problems=(f"{file}: cannot be read ({exc}); nothing loaded",))
    try:
        data = json.loads(text)
    except ValueError as exc:
        return Project(file, True, problems=(f"{file}: not valid JSON ({exc}); nothing loaded",))
    if not isinstance(data, dict):
        return Project(file, True, problems=(f"{file}: not a JSON object; nothing loaded",))
    reader = _Reader(file, project_dir, available_runtimes, max_timeout)
    project_id = data.get("projectId")
    if project_id is not None and not isinstance(project_id, str):
        reader.problem("projectId", f"{_show(project_id)} is not a string; ignored")
        project_id = None
    entries = data.get("functions", [])
    functions: list[ProjectFunction] = []
    if not isinstance(entries, list):
        reader.problem("functions", "is not a list; no function loaded")
        entries = []
    for index, entry in enumerate(entries):
        fn = reader.function(index, entry)
        if fn is None:
            continue
        if any(f.id == fn.id for f in functions):
            reader.problem(f"functions[{index}].$id", f'"{fn.id}" is listed twice; entry skipped')
            continue
        functions.append(fn)
    return Project(file, True, project_id or None, tuple(functions), tuple(reader.problems))


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


class _Reader:
    def __init__(
        self, file: Path, project_dir: Path, runtimes: Collection[str], max_timeout: int
    ) -> None:
        self.file = file
        self.project_dir = project_dir
        self.runtimes = runtimes
        self.timeout = Range(1, max_timeout)
        self.problems: list[str] = []

    def problem(self, where: str, text: str) -> None:
        self.problems.append(f"{self.file}: {where}: {text}")

    def function(self, index: int, entry: object) -> ProjectFunction | None:
        at = f"functions[{index}]"
        if not isinstance(entry, dict):
            self.problem(at, "is not an object; entry skipped")
            return None
        fid = entry.get("$id")
        if not isinstance(fid, str) or not fid or not is_key(fid):
            text = "is missing" if fid is None else f"{_show(fid)} is not a valid function ID"
            self.problem(f"{at}.$id", f"{text}; entry skipped")
            return None
        runtime = entry.get("runtime")
        if runtime not in self.runtimes:
            self.problem(
                f"{at}.runtime", f'{self._runtime_problem(runtime)}; function "{fid}" skipped'
            )
            return None
        assert isinstance(runtime, str)
        values = _Checked(self, at, entry)
        return ProjectFunction(
            id=fid,
            name=values.get("name", _NAME),
            runtime=runtime,
            path=self._path(at, fid, entry.get("path")),
            entrypoint=self._entrypoint(at, fid, entry.get("entrypoint")),
            execute=values.get("execute", Roles()),
            events=values.get("events", _EVENTS),
            schedule=values.get("schedule", Cron()),
            timeout=_maybe(to_int, values.get("timeout", self.timeout)),
            enabled=values.get("enabled", Boolean()),
            ignore=self._ignore(at, entry.get("ignore")),
            variables=self._variables(at, entry.get("variables")),
        )

    def _runtime_problem(self, runtime: object) -> str:
        if runtime is None:
            return "is missing"
        available = ", ".join(self.runtimes) or "none"
        if isinstance(runtime, str) and any(r.id == runtime for r in CATALOGUE):
            return f"{_show(runtime)} has no local interpreter here (available: {available})"
        return f"{_show(runtime)} is not an Appwrite 1.3 runtime (available: {available})"

    def _path(self, at: str, fid: str, value: object) -> Path | None:
        consequence = f'function "{fid}" is created but not deployed'
        if value is None:
            self.problem(f"{at}.path", f"is missing; {consequence}")
            return None
        if not isinstance(value, str) or not value:
            self.problem(f"{at}.path", f"{_show(value)} is not a folder path; {consequence}")
            return None
        folder = (self.project_dir / value).resolve()
        if not folder.is_dir():
            self.problem(f"{at}.path", f"{_show(value)} is not a folder; {consequence}")
            return None
        return folder

    def _entrypoint(self, at: str, fid: str, value: object) -> str | None:
        if isinstance(value, str) and value.strip():
            return value
        text = "is missing" if value is None else f"{_show(value)} is not a file path"
        self.problem(f"{at}.entrypoint", f'{text}; function "{fid}" is created but not deployed')
        return None

    def _ignore(self, at: str, value: object) -> tuple[str, ...] | None:
        if value is None:
            return None
        if isinstance(value, str):
            return tuple(value.splitlines())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.problem(f"{at}.ignore", f"{_show(value)} is not a list of patterns; .gitignore used")
        return None

    def _variables(self, at: str, value: object) -> dict[str, str] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(f"{at}.variables", f"{_show(value)} is not an object; variables kept")
            return None
        variables: dict[str, str] = {}
        for key, raw in value.items():
            text = _scalar_text(raw)
            if _VARIABLE_KEY.check(key) is not None:
                self.problem(f"{at}.variables", f"the key {_show(key)} is too long; skipped")
            elif text is None or _VARIABLE_VALUE.check(text) is not None:
                self.problem(
                    f"{at}.variables.{key}",
                    f"{_show(raw)} is not a string of at most 8192 chars; skipped",
                )
            else:
                variables[key] = text
        return variables


class _Checked:
    """Optional settings checked with the API's own validators; an invalid one is reported, dropped."""

    def __init__(self, reader: _Reader, at: str, entry: dict[str, Any]) -> None:
        self.reader, self.at, self.entry = reader, at, entry

    def get(self, key: str, validator: Any) -> Any:
        value = self.entry.get(key)
        if value is None:
            return None
        problem = validator.check(value)
        if problem is None:
            return value
        self.reader.problem(f"{self.at}.{key}", f"{_show(value)} is invalid ({problem}); ignored")
        return None


def _maybe(convert: Callable[[Any], int], value: Any) -> int | None:
    return None if value is None else convert(value)


def _scalar_text(value: object) -> str | None:
    """A variable's value as text: strings as they are, numbers and booleans as JSON writes them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return None
