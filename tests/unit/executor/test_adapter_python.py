"""What only the Python adapter (runtimes/python/worker.py) does, driven over the worker protocol.

The behaviour every adapter shares is tested once per language in test_adapters.py. These
tests start the real worker against a user function and check what a user would notice.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path

import pytest

from tests.unit.executor.worker_client import python_worker, write_files


def _interpreters() -> list[str]:
    """This venv's Python plus the other supported ones (3.8-3.13) that pyenv has."""
    found = [sys.executable]
    root = Path.home() / ".pyenv" / "versions"
    current = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for minor in ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13"):
        if minor == current:
            continue
        candidates = sorted(root.glob(minor + ".*/bin/python3"))
        if candidates:
            found.append(str(candidates[-1]))
    return found


# -- loading --------------------------------------------------------------------------------------


def test_import_error_of_a_sibling_is_a_load_error(tmp_path: Path) -> None:
    # 1.3 never put the function folder on sys.path: only relative imports reach siblings.
    code = write_files(
        tmp_path,
        {
            "helpers.py": "VALUE = 1\n",
            "main.py": """\
                import helpers

                def main(req, res):
                    res.send(str(helpers.VALUE))
            """,
        },
    )
    with python_worker(code) as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert "ModuleNotFoundError: No module named 'helpers'" in hello["stderr"]
        assert "main.py" in hello["stderr"]
        assert "<frozen importlib" not in hello["stderr"]


def test_deps_dir_comes_first_on_sys_path(tmp_path: Path) -> None:
    deps = write_files(
        tmp_path / "deps",
        {"greetlib/__init__.py": "def hello(name):\n    return 'hi ' + name\n"},
    )
    code = write_files(
        tmp_path / "code",
        {
            "main.py": """\
                import sys

                import greetlib

                def main(req, res):
                    res.json({"text": greetlib.hello(req.payload), "first": sys.path[0]})
            """
        },
    )
    with python_worker(code, deps_dir=deps) as worker:
        assert worker.hello() == {"type": "ready"}
        body = json.loads(worker.execute("Bob")["response"])
        assert body == {"text": "hi Bob", "first": str(deps)}


def test_import_time_output_goes_to_the_first_execution() -> None:
    with python_worker("logging_setup") as worker:
        assert worker.hello() == {"type": "ready"}
        first = worker.execute("p1")
        assert first["stdout"] == "module loaded\n"
        assert first["stderr"] == "WARNING payload was p1\n"
        second = worker.execute("p2")
        # logging.basicConfig() kept a reference to sys.stderr at import time; still captured.
        assert second["stdout"] == ""
        assert second["stderr"] == "WARNING payload was p2\n"


# -- executions -----------------------------------------------------------------------------------


def test_exception_gives_500_with_traceback_and_keeps_printed_stdout() -> None:
    with python_worker("raise_error") as worker:
        worker.hello()
        reply = worker.execute(json.dumps({"id": 7}))
        assert reply["statusCode"] == 500
        assert reply["response"] == ""
        assert reply["stdout"] == "processing order\n"
        stderr = reply["stderr"]
        assert stderr.startswith("Traceback (most recent call last):\n")
        assert "in parse_order" in stderr
        assert stderr.rstrip().endswith("KeyError: 'items'")
        assert "worker.py" not in stderr
        # The worker survives and serves the next execution.
        ok = worker.execute(json.dumps({"items": [1, 2]}))
        assert ok["statusCode"] == 200
        assert json.loads(ok["response"]) == {"count": 2}
        assert ok["stderr"] == ""


def test_returning_without_res_gives_200_and_empty_response() -> None:
    with python_worker("no_res") as worker:
        worker.hello()
        reply = worker.execute()
    assert reply["statusCode"] == 200
    assert reply["response"] == ""
    assert reply["stdout"] == "did some work, forgot to answer\n"


def test_floats_and_dates_are_turned_into_text_as_flask_did() -> None:
    # The values every language shares are in test_adapters.py; these are Python's own.
    expected = {"float": "1.5", "date": "Wed, 21 Oct 2015 07:28:00 GMT"}
    with python_worker("response_values") as worker:
        worker.hello()
        got = {key: worker.execute(key)["response"] for key in expected}
    assert got == expected


def test_async_main_is_awaited() -> None:
    with python_worker("async_main") as worker:
        worker.hello()
        for value in (2, 5):
            reply = worker.execute(json.dumps({"value": value}))
            assert reply["statusCode"] == 200
            assert json.loads(reply["response"]) == {"result": value * 2}
            assert reply["stdout"] == f"doubling {value}\n"


def test_a_task_left_running_logs_to_the_worker_not_to_the_next_execution(
    tmp_path: Path,
) -> None:
    code = write_files(
        tmp_path,
        {
            "main.py": """\
                import asyncio
                import sys

                async def later(tag):
                    await asyncio.sleep(0.05)
                    print("late output of", tag)
                    print("late error of", tag, file=sys.stderr)

                async def main(req, res):
                    asyncio.get_running_loop().create_task(later(req.payload))
                    if req.payload == "second":
                        await asyncio.sleep(0.2)  # the first task wakes up meanwhile
                    print("own output of", req.payload)
                    res.send(req.payload)
            """
        },
    )
    with python_worker(code) as worker:
        worker.hello()
        first = worker.execute("first")
        second = worker.execute("second")
        assert first["stdout"] == "own output of first\n"
        assert first["stderr"] == ""
        # Its own task finished in time: that output is its own.
        assert second["stdout"] == "late output of second\nown output of second\n"
        assert second["stderr"] == "late error of second\n"
        worker.wait_for_stderr("late error of first")
        assert worker.stdout == "late output of first\n"


def test_user_code_sees_an_empty_stdin(tmp_path: Path) -> None:
    code = write_files(
        tmp_path,
        {
            "main.py": """\
                import sys

                def main(req, res):
                    res.send("read:" + repr(sys.stdin.read()))
            """
        },
    )
    with python_worker(code) as worker:
        worker.hello()
        assert worker.execute()["response"] == "read:''"
        assert worker.execute()["response"] == "read:''"


def _limit_memory() -> None:
    limit = 512 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS semantics")
def test_memory_hog_under_a_limit_fails_and_the_worker_survives() -> None:
    with python_worker("memory_hog", preexec_fn=_limit_memory) as worker:
        worker.hello()
        for _ in range(2):
            reply = worker.execute(timeout=30)
            assert reply["statusCode"] == 500
            assert "MemoryError" in reply["stderr"]


@pytest.mark.parametrize("python", _interpreters(), ids=lambda p: Path(p).parts[-3])
def test_works_on_every_supported_interpreter(python: str) -> None:
    with python_worker("relative_import", "src/main.py", python=python) as worker:
        assert worker.hello() == {"type": "ready"}
        reply = worker.execute(json.dumps({"name": "Zoë"}))
        assert json.loads(reply["response"])["greeting"] == "Hello, Zoë!"
    with python_worker("async_main", python=python) as worker:
        worker.hello()
        assert json.loads(worker.execute('{"value": 4}')["response"]) == {"result": 8}
    with python_worker("raise_error", python=python) as worker:
        worker.hello()
        reply = worker.execute("not json")
        assert reply["statusCode"] == 500
        assert "JSONDecodeError" in reply["stderr"]
        assert reply["stdout"] == "processing order\n"
    with python_worker("env_echo", python=python) as worker:
        worker.hello()
        body = json.loads(worker.execute("", {"CUSTOM_VARIABLE": "ü"})["response"])
        assert body["env"]["CUSTOM_VARIABLE"] == "ü"
        assert body["unicode"] == "êä"
    with python_worker("big_output", python=python, literal_fd3=True) as worker:
        worker.hello()
        reply = worker.execute(timeout=30)
        assert (len(reply["stdout"]), len(reply["response"])) == (1_000_000, 1_000_000)
    assert os.path.exists(python)


def test_what_a_function_does_to_os_environ_is_undone_for_the_next(tmp_path: Path) -> None:
    # The worker writes only the variables that changed since the last execution, unless the
    # function changed the environment itself: then all of it is compared again.
    code = write_files(
        tmp_path,
        {
            "main.py": """\
                import json, os

                def main(req, res):
                    seen = {k: os.environ.get(k) for k in ("MINE", "CUSTOM", "APPWRITE_FUNCTION_ID")}
                    if req.payload == "meddle":
                        os.environ["MINE"] = "left behind"
                        os.environ["APPWRITE_FUNCTION_ID"] = "overwritten"
                        del os.environ["CUSTOM"]
                    res.send(json.dumps(seen))
            """,
        },
    )
    variables = {"APPWRITE_FUNCTION_ID": "fn", "CUSTOM": "kept"}
    with python_worker(code) as worker:
        worker.hello()
        replies = [
            json.loads(worker.execute(payload, variables)["response"])
            for payload in ("meddle", "look", "look")
        ]
    expected = {"MINE": None, "CUSTOM": "kept", "APPWRITE_FUNCTION_ID": "fn"}
    assert replies == [expected, expected, expected]
