"""PHP, Ruby and Deno functions written the way Appwrite 1.3's own tests and templates write them,
deployed and executed through the real server with the official Python SDK."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.input_file import InputFile
from appwrite.services.functions import Functions

from tests.e2e.conftest import Server, start_server
from tests.support import fixture, pack, wait_for

TIMEOUT_STDERR = (
    "An internal curl error has occurred within the executor! Error Msg: Operation timed out"
)
LANGUAGES = {
    # language: (runtime, entrypoint, APPWRITE_FUNCTION_RUNTIME_NAME, _VERSION)
    "php": ("php-8.0", "index.php", "PHP", "8.0"),
    "ruby": ("ruby-3.1", "index.rb", "Ruby", "3.1"),
    "deno": ("deno-1.21", "mod.ts", "Deno", "1.21"),
}
NEW_RUNTIMES = ["php-8.0", "php-8.1", "ruby-3.0", "ruby-3.1", "deno-1.21", "deno-1.24"]


def _needs(language: str) -> Any:
    return pytest.param(
        language,
        id=language,
        marks=pytest.mark.skipif(shutil.which(language) is None, reason=f"{language} is missing"),
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("languages")
    (root / "project").mkdir()
    srv = start_server(root / "project", root / "data")
    try:
        yield srv
    finally:
        srv.stop()


def sdk(server: Server) -> Functions:
    client = Client().set_endpoint(server.endpoint).set_project(server.project_id)
    return Functions(client.set_key(server.api_key))


def deploy(functions: Functions, function_id: str, folder: Path, entrypoint: str) -> dict[str, Any]:
    archive = folder.parent / f"{function_id}-code.tar.gz"
    archive.write_bytes(pack(folder))
    created = functions.create_deployment(
        function_id, entrypoint, InputFile.from_path(str(archive)), True
    )

    def built() -> dict[str, Any] | None:
        deployment: dict[str, Any] = functions.get_deployment(function_id, created["$id"])
        return deployment if deployment["status"] in ("ready", "failed") else None

    deployment = wait_for(built, timeout=120)
    assert deployment["status"] == "ready", deployment["buildStderr"]
    wait_for(lambda: functions.get(function_id)["deployment"] == created["$id"], timeout=10)
    return deployment


def copy_fixture(language: str, name: str, tmp_path: Path) -> Path:
    target = tmp_path / language / name
    shutil.copytree(fixture(language, name), target)
    return target


def test_the_runtimes_are_listed_in_1_3_order(server: Server) -> None:
    listed = httpx.get(
        f"{server.endpoint}/functions/runtimes",
        headers={"X-Appwrite-Project": server.project_id, "X-Appwrite-Key": server.api_key},
    ).json()
    ids = [runtime["$id"] for runtime in listed["runtimes"]]
    present = [
        runtime for runtime in NEW_RUNTIMES if shutil.which(runtime.split("-")[0]) is not None
    ]
    assert [i for i in ids if i in NEW_RUNTIMES] == present
    order = ["node", "php", "ruby", "python", "deno"]
    languages = [i.split("-")[0] for i in ids]
    assert languages == sorted(languages, key=order.index)
    by_id = {runtime["$id"]: runtime for runtime in listed["runtimes"]}
    if "php-8.1" in by_id:
        assert by_id["php-8.1"] == {
            "$id": "php-8.1",
            "name": "PHP",
            "version": "8.1",
            "base": "php:8.1-cli-alpine",
            "image": "openruntimes/php:v2-8.1",
            "logo": "php.png",
            "supports": ["x86", "arm"],
        }
    if "deno-1.24" in by_id:
        assert by_id["deno-1.24"]["supports"] == ["x86"]
        assert by_id["deno-1.24"]["base"] == "denoland/deno:alpine-1.24.3"


@pytest.mark.parametrize("language", [_needs(name) for name in LANGUAGES])
def test_a_1_3_function_sees_every_appwrite_variable_and_logs(
    server: Server, tmp_path: Path, language: str
) -> None:
    runtime, entrypoint, runtime_name, version = LANGUAGES[language]
    functions = sdk(server)
    fn = functions.create("unique()", f"Test {language}", runtime, execute=["any"], timeout=15)
    functions.create_variable(fn["$id"], "CUSTOM_VARIABLE", "variable")
    folder = copy_fixture(language, "appwrite_1_3", tmp_path)
    deployment = deploy(functions, fn["$id"], folder, entrypoint)

    execution = functions.create_execution(fn["$id"], data="foobar")
    assert (execution["status"], execution["statusCode"]) == ("completed", 200), execution
    assert "Amazing Function Log" in execution["stdout"]
    assert execution["stderr"] == ""
    body = json.loads(execution["response"])
    assert body == {
        "APPWRITE_FUNCTION_ID": fn["$id"],
        "APPWRITE_FUNCTION_NAME": f"Test {language}",
        "APPWRITE_FUNCTION_DEPLOYMENT": deployment["$id"],
        "APPWRITE_FUNCTION_TRIGGER": "http",
        "APPWRITE_FUNCTION_RUNTIME_NAME": runtime_name,
        "APPWRITE_FUNCTION_RUNTIME_VERSION": version,
        "APPWRITE_FUNCTION_EVENT": "",
        "APPWRITE_FUNCTION_EVENT_DATA": "",
        "APPWRITE_FUNCTION_DATA": "foobar",
        "APPWRITE_FUNCTION_USER_ID": "",
        "APPWRITE_FUNCTION_JWT": "",
        "APPWRITE_FUNCTION_PROJECT_ID": server.project_id,
        "CUSTOM_VARIABLE": "variable",
        "ENV_CUSTOM_VARIABLE": "variable",
        "PAYLOAD": "foobar",
    }

    queued = functions.create_execution(fn["$id"], data="second", xasync=True)

    def finished() -> dict[str, Any] | None:
        done: dict[str, Any] = functions.get_execution(fn["$id"], queued["$id"])
        return done if done["status"] in ("completed", "failed") else None

    done = wait_for(finished, timeout=60)
    assert done["status"] == "completed", done
    assert json.loads(done["response"])["APPWRITE_FUNCTION_DATA"] == "second"


@pytest.mark.skipif(shutil.which("php") is None, reason="php is missing")
def test_a_php_function_sleeping_past_its_timeout_fails_like_1_3(
    server: Server, tmp_path: Path
) -> None:
    functions = sdk(server)
    fn = functions.create("php-timeout", "Timeout", "php-8.0", execute=["any"], timeout=2)
    deploy(functions, fn["$id"], copy_fixture("php", "timeout", tmp_path), "index.php")
    execution = functions.create_execution(fn["$id"])
    assert (execution["status"], execution["statusCode"]) == ("failed", 500), execution
    assert (execution["response"], execution["stderr"]) == ("", TIMEOUT_STDERR)
    assert 2 <= execution["duration"] < 3.5


@pytest.mark.parametrize("language", [_needs(name) for name in LANGUAGES])
def test_an_error_is_a_failed_execution_with_the_message_and_trace(
    server: Server, tmp_path: Path, language: str
) -> None:
    runtime, entrypoint, _, _ = LANGUAGES[language]
    functions = sdk(server)
    fn = functions.create(f"{language}-error", "Error", runtime, execute=["any"])
    deploy(functions, fn["$id"], copy_fixture(language, "throw_error", tmp_path), entrypoint)
    execution = functions.create_execution(fn["$id"])
    assert (execution["status"], execution["statusCode"]) == ("failed", 500), execution
    assert execution["response"] == ""
    assert "before the error" in execution["stdout"]
    assert "Something went wrong" in execution["stderr"]


def test_a_runtime_without_its_interpreter_is_not_offered(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    srv = start_server(tmp_path / "project", tmp_path / "data", "--runtimes", "python-3.9")
    try:
        with pytest.raises(AppwriteException) as error:
            sdk(srv).create("nope", "Nope", "php-8.0")
        assert (error.value.code, error.value.type) == (400, "general_argument_invalid")
        assert "Invalid runtime" in error.value.message
        assert "python-3.9" in error.value.message
    finally:
        srv.stop()
