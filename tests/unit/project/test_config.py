"""Reading appwrite.json: the CLI's format, defaults, and one clear line per problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emulator.project.config import read_project

ROOT = Path(__file__).resolve().parents[3]
RUNTIMES = ["python-3.9", "node-18.0"]


def project_with(tmp_path: Path, functions: list[Any], **top: Any) -> Path:
    (tmp_path / "functions" / "fn").mkdir(parents=True, exist_ok=True)
    data = {"projectId": "demo", "projectName": "Demo", "functions": functions, **top}
    (tmp_path / "appwrite.json").write_text(json.dumps(data))
    return tmp_path


def entry(**fields: Any) -> dict[str, Any]:
    base = {
        "$id": "fn",
        "name": "Fn",
        "runtime": "python-3.9",
        "path": "functions/fn",
        "entrypoint": "main.py",
    }
    return {**base, **fields}


def test_the_bundled_samples_are_a_valid_project() -> None:
    project = read_project(
        ROOT / "sample_functions", [*RUNTIMES, "php-8.0", "ruby-3.0", "deno-1.21"]
    )
    assert project.problems == ()
    assert project.project_id == "emulator"
    ids = [f.id for f in project.functions]
    assert ids == [
        "hello-python",
        "hello-node",
        "read-variables",
        "slugify",
        "heartbeat",
        "on-deployment",
        "always-fails",
        "hello-php",
        "hello-ruby",
        "hello-deno",
    ]
    for fn in project.functions:
        assert fn.deployable and fn.path is not None and fn.entrypoint is not None
        assert (fn.path / fn.entrypoint).is_file(), fn.id
        assert (fn.path / "README.md").read_text().strip().count("\n") == 1, fn.id
    by_id = {f.id: f for f in project.functions}
    assert by_id["read-variables"].variables == {"GREETING": "Howdy", "AUDIENCE": "developers"}
    assert by_id["heartbeat"].schedule == "* * * * *"
    assert by_id["on-deployment"].events == ["functions.*.deployments.*.create"]
    assert by_id["hello-node"].ignore == ("node_modules", ".npm")


def test_a_cli_written_function_entry(tmp_path: Path) -> None:
    # What `appwrite init function` writes, plus the `variables` the CLI deploys.
    cli_entry = entry(
        ignore=None,
        execute=["any"],
        events=[],
        schedule="",
        timeout=15,
        variables={"KEY": "value", "NUMBER": 3, "FLAG": True},
    )
    project = read_project(project_with(tmp_path, [cli_entry]), RUNTIMES)
    assert project.problems == ()
    (fn,) = project.functions
    assert fn.path == (tmp_path / "functions" / "fn").resolve()
    assert (fn.execute, fn.events, fn.schedule, fn.timeout) == (["any"], [], "", 15)
    assert fn.ignore is None  # the folder's .gitignore then applies
    assert fn.variables == {"KEY": "value", "NUMBER": "3", "FLAG": "true"}


def test_absent_settings_stay_unset_so_the_data_dir_keeps_them(tmp_path: Path) -> None:
    (fn,) = read_project(project_with(tmp_path, [entry(name=None)]), RUNTIMES).functions
    assert fn.name is fn.execute is fn.events is fn.schedule is fn.timeout is fn.enabled is None
    assert fn.variables is None


def test_without_appwrite_json_the_project_is_empty(tmp_path: Path) -> None:
    project = read_project(tmp_path, RUNTIMES)
    assert not project.exists and project.functions == () and project.problems == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{broken", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"functions": {"$id": "x"}}', "functions: is not a list"),
    ],
)
def test_unreadable_files_give_one_line(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "appwrite.json").write_text(text)
    project = read_project(tmp_path, RUNTIMES)
    assert project.functions == ()
    (problem,) = project.problems
    assert problem.startswith(f"{tmp_path / 'appwrite.json'}: ") and expected in problem


@pytest.mark.parametrize(
    ("fields", "field", "text", "kept"),
    [
        (
            {"runtime": "python-2.7"},
            "runtime",
            '"python-2.7" is not an Appwrite 1.3 runtime',
            False,
        ),
        ({"runtime": "php-8.0"}, "runtime", '"php-8.0" has no local interpreter here', False),
        ({"runtime": None}, "runtime", "is missing", False),
        ({"$id": "bad id!"}, "$id", "is not a valid function ID", False),
        ({"$id": None}, "$id", "is missing", False),
        ({"path": None}, "path", 'is missing; function "fn" is created but not deployed', True),
        ({"path": "functions/nope"}, "path", '"functions/nope" is not a folder', True),
        ({"entrypoint": None}, "entrypoint", "is missing", True),
        ({"schedule": "every minute"}, "schedule", "String must be a valid cron expression", True),
        ({"timeout": 0}, "timeout", "Value must be a valid range between 1 and 900", True),
        ({"events": ["no.such.event"]}, "events", "Event is not valid.", True),
        ({"execute": ["everyone"]}, "execute", 'Role "everyone" is not allowed', True),
        ({"enabled": "yes"}, "enabled", "Value must be a valid boolean", True),
        ({"ignore": 42}, "ignore", "is not a list of patterns; .gitignore used", True),
        ({"variables": ["A=1"]}, "variables", "is not an object; variables kept", True),
        ({"variables": {"A": {"x": 1}}}, "variables.A", "is not a string", True),
    ],
)
def test_each_problem_names_the_file_and_the_field(
    tmp_path: Path, fields: dict[str, Any], field: str, text: str, kept: bool
) -> None:
    other = entry(**{"$id": "other", "name": "Other"})
    project = read_project(project_with(tmp_path, [entry(**fields), other]), RUNTIMES)
    (problem,) = project.problems
    assert "\n" not in problem
    assert problem.startswith(f"{tmp_path / 'appwrite.json'}: functions[0].{field}: "), problem
    assert text in problem, problem
    # Everything valid still loads: the other function always, this one unless it cannot exist.
    assert [f.id for f in project.functions] == (["fn", "other"] if kept else ["other"])
    if kept:
        fn = project.functions[0]
        assert fn.deployable is (field not in ("path", "entrypoint"))


def test_several_problems_are_each_reported(tmp_path: Path) -> None:
    functions = [
        entry(schedule="bad", timeout=99999),
        entry(),  # the same $id again
        "not an object",
    ]
    project = read_project(project_with(tmp_path, functions, projectId=7), RUNTIMES)
    assert len(project.problems) == 5, project.problems
    assert [f.id for f in project.functions] == ["fn"]
    assert project.project_id is None
    assert any('functions[1].$id: "fn" is listed twice' in p for p in project.problems)
    assert any("functions[2]: is not an object" in p for p in project.problems)
    assert any(p.endswith("projectId: 7 is not a string; ignored") for p in project.problems)
