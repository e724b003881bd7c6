"""The Python adapter (runtimes/python/worker.py), driven over the worker protocol.

Every test starts the real worker process against a user function from tests/fixtures and checks
what a user would notice: the response, the status, the logs, state kept between executions.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import textwrap
import time
from pathlib import Path

import pytest

try:
    from worker_client import peak_rss_mb, python_worker
except ImportError:  # tests/unit imported as a package
    from tests.unit.worker_client import peak_rss_mb, python_worker


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


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


APPWRITE_VARIABLES = {
    "APPWRITE_FUNCTION_ID": "fn1",
    "APPWRITE_FUNCTION_NAME": "Echo",
    "APPWRITE_FUNCTION_DEPLOYMENT": "dep1",
    "APPWRITE_FUNCTION_TRIGGER": "http",
    "APPWRITE_FUNCTION_RUNTIME_NAME": "Python",
    "APPWRITE_FUNCTION_RUNTIME_VERSION": "3.10",
    "APPWRITE_FUNCTION_DATA": "hello",
    "APPWRITE_FUNCTION_PROJECT_ID": "proj",
    "APPWRITE_FUNCTION_USER_ID": "",
    "APPWRITE_FUNCTION_JWT": "",
}


# -- loading --------------------------------------------------------------------------------------


def test_hello_is_ready_and_stdin_eof_exits_zero() -> None:
    with python_worker("counter") as worker:
        assert worker.hello() == {"type": "ready"}
        worker.close_stdin()
        assert worker.wait() == 0


def test_replies_on_literal_fd_3() -> None:
    with python_worker("counter", literal_fd3=True) as worker:
        assert worker.hello() == {"type": "ready"}
        assert json.loads(worker.execute()["response"]) == {"count": 1}


def test_syntax_error_is_reported_on_hello_and_every_request() -> None:
    with python_worker("syntax_error") as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert "SyntaxError" in hello["stderr"]
        assert "main.py" in hello["stderr"]
        assert "worker.py" not in hello["stderr"]
        for _ in range(2):
            reply = worker.execute("x")
            assert reply["statusCode"] == 500
            assert reply["response"] == ""
            assert "SyntaxError" in reply["stderr"]
        assert worker.proc.poll() is None


def test_missing_main_is_a_load_error() -> None:
    with python_worker("no_main") as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert "main" in hello["stderr"]
        reply = worker.execute()
        assert reply["statusCode"] == 500
        assert "does not define a main function" in reply["stderr"]


def test_missing_entrypoint_is_a_load_error() -> None:
    with python_worker("counter", "src/nope.py") as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert "src/nope.py" in hello["stderr"]
        assert worker.execute()["statusCode"] == 500


def test_import_error_of_a_sibling_is_a_load_error(tmp_path: Path) -> None:
    # 1.3 never put the function folder on sys.path: only relative imports reach siblings.
    code = _write(
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


def test_relative_imports_work_in_a_subfolder() -> None:
    with python_worker("relative_import", "src/main.py") as worker:
        assert worker.hello() == {"type": "ready"}
        reply = worker.execute(json.dumps({"name": "Ada"}))
        assert reply["statusCode"] == 200
        assert json.loads(reply["response"]) == {
            "greeting": "Hello, Ada!",
            "loud": "HELLO, ADA!",
        }


def test_deps_dir_comes_first_on_sys_path(tmp_path: Path) -> None:
    deps = _write(
        tmp_path / "deps",
        {"greetlib/__init__.py": "def hello(name):\n    return 'hi ' + name\n"},
    )
    code = _write(
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


def test_env_echo_sees_payload_headers_variables_and_environment() -> None:
    variables = {**APPWRITE_VARIABLES, "CUSTOM_VARIABLE": "custom êä"}
    with python_worker("env_echo") as worker:
        assert worker.hello() == {"type": "ready"}
        reply = worker.execute("hello", variables, {"x-test": "1"})
    assert reply["statusCode"] == 200
    assert reply["stdout"] == "env echo for fn1\n"
    assert reply["stderr"] == ""
    body = json.loads(reply["response"])
    assert body["payload"] == "hello"
    assert body["headers"] == {"x-test": "1"}
    assert body["variables"] == variables
    assert body["env"]["APPWRITE_FUNCTION_ID"] == "fn1"
    assert body["env"]["APPWRITE_FUNCTION_TRIGGER"] == "http"
    assert body["env"]["APPWRITE_FUNCTION_EVENT"] is None
    assert body["env"]["CUSTOM_VARIABLE"] == "custom êä"
    assert body["unicode"] == "êä"
    # Compact JSON, sorted keys (as 1.3's Flask runtime), unicode kept raw.
    assert reply["response"].startswith('{"env":{')
    assert '"unicode":"êä"' in reply["response"]


def test_environment_is_refreshed_for_every_execution() -> None:
    with python_worker("env_echo") as worker:
        worker.hello()
        first = json.loads(
            worker.execute("", {"APPWRITE_FUNCTION_ID": "a", "CUSTOM_VARIABLE": "one"})["response"]
        )
        second = json.loads(worker.execute("", {"APPWRITE_FUNCTION_ID": "b"})["response"])
    assert first["env"]["CUSTOM_VARIABLE"] == "one"
    assert second["env"]["APPWRITE_FUNCTION_ID"] == "b"
    assert second["env"]["CUSTOM_VARIABLE"] is None
    assert second["variables"] == {"APPWRITE_FUNCTION_ID": "b"}


def test_module_state_persists_across_executions_of_one_worker() -> None:
    with python_worker("counter") as worker:
        worker.hello()
        counts = [json.loads(worker.execute()["response"])["count"] for _ in range(3)]
    assert counts == [1, 2, 3]
    with python_worker("counter") as fresh:
        fresh.hello()
        assert json.loads(fresh.execute()["response"]) == {"count": 1}


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


def test_status_from_res_send_and_res_json_is_passed_through() -> None:
    with python_worker("status") as worker:
        worker.hello()
        reply = worker.execute(json.dumps({"status": 404}))
        assert (reply["statusCode"], reply["response"]) == (404, "x")
        assert reply["stderr"] == "answering with 404\n"
        reply = worker.execute(json.dumps({"status": 201, "json": True}))
        assert (reply["statusCode"], reply["response"]) == (201, '{"status":201}')
        reply = worker.execute(json.dumps({"status": "abc"}))
        assert reply["statusCode"] == 500
        assert "Invalid status code: 'abc'" in reply["stderr"]


def test_returning_without_res_gives_200_and_empty_response() -> None:
    with python_worker("no_res") as worker:
        worker.hello()
        reply = worker.execute()
    assert reply["statusCode"] == 200
    assert reply["response"] == ""
    assert reply["stdout"] == "did some work, forgot to answer\n"


def test_response_values_are_turned_into_text(tmp_path: Path) -> None:
    code = _write(
        tmp_path,
        {
            "main.py": """\
                import datetime
                import json

                VALUES = {
                    "none": None,
                    "true": True,
                    "false": False,
                    "int": 42,
                    "float": 1.5,
                    "list": [1, "b", {"z": 1, "a": 2}],
                    "empty": {},
                    "date": datetime.datetime(2015, 10, 21, 7, 28),
                }

                def main(req, res):
                    res.json(VALUES[req.payload])
            """
        },
    )
    expected = {
        "none": "",
        "true": "1",
        "false": "",
        "int": "42",
        "float": "1.5",
        "list": '[1,"b",{"a":2,"z":1}]',
        "empty": "{}",
        "date": "Wed, 21 Oct 2015 07:28:00 GMT",
    }
    with python_worker(code) as worker:
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


def test_sleep_blocks_until_main_returns() -> None:
    with python_worker("sleep") as worker:
        worker.hello()
        started = time.monotonic()
        reply = worker.execute(json.dumps({"seconds": 0.3}))
        assert time.monotonic() - started >= 0.3
    assert reply["response"] == "slept 0.3"
    assert reply["stdout"] == "sleeping 0.3\n"


def test_big_output_is_cut_to_one_million_bytes_by_the_worker() -> None:
    with python_worker("big_output") as worker:
        worker.hello()
        reply = worker.execute(timeout=30)
    assert reply["statusCode"] == 200
    assert reply["response"] == "r" * 1_000_000
    # 2048 lines of 1024 bytes were printed: 976 whole lines and the start of the next one.
    assert reply["stdout"] == ("o" * 1023 + "\n") * 976 + "o" * 576
    assert "stdout was cut to its first 1000000 bytes" in worker.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_hundreds_of_megabytes_of_output_keep_the_worker_small(tmp_path: Path) -> None:
    code = _write(
        tmp_path,
        {
            "main.py": """\
                import sys

                def main(req, res):
                    line = "x" * 1023
                    for _ in range(300 * 1024):  # 300 MB, a line at a time
                        print(line)
                    block = "e" * (1024 * 1024)
                    for _ in range(100):  # 100 MB of stderr
                        sys.stderr.write(block)
                    sys.stdout.buffer.write(b"b" * (50 * 1024 * 1024))
                    res.send("y" * (20 * 1024 * 1024))
            """
        },
    )
    with python_worker(code) as worker:
        worker.hello()
        reply = worker.execute(timeout=60)
        assert reply["statusCode"] == 200
        assert reply["stdout"] == ("x" * 1023 + "\n") * 976 + "x" * 576
        assert reply["stderr"] == "e" * 1_000_000
        assert reply["response"] == "y" * 1_000_000
        assert peak_rss_mb(worker.proc.pid) < 150  # 20 MB of the response are the user's own
        assert worker.execute(timeout=60)["statusCode"] == 200  # the worker is still there


def test_outputs_are_cut_without_splitting_a_character(tmp_path: Path) -> None:
    code = _write(
        tmp_path,
        {
            "main.py": """\
                import sys

                def main(req, res):
                    print("a" + "\U0001f600" * 300_000, end="")
                    sys.stderr.write("\u20ac" * 400_000)
                    res.send("\u00e9" * 600_000)
            """
        },
    )
    with python_worker(code) as worker:
        worker.hello()
        reply = worker.execute()
    assert reply["stdout"] == "a" + "\U0001f600" * 249_999
    assert reply["stderr"] == "\u20ac" * 333_333  # 999,999 bytes: the next one would not fit
    assert reply["response"] == "\u00e9" * 500_000


def test_a_task_left_running_logs_to_the_worker_not_to_the_next_execution(
    tmp_path: Path,
) -> None:
    code = _write(
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


def test_writes_to_fd_3_do_not_reach_the_protocol(tmp_path: Path) -> None:
    code = _write(
        tmp_path,
        {
            "main.py": """\
                import os

                os.write(3, b"junk written while loading")

                def main(req, res):
                    os.write(3, b"junk")
                    os.write(3, b'{"type": "result", "statusCode": 418}\\n')
                    res.json({fd: os.readlink(f"/proc/self/fd/{fd}") for fd in ("0", "3")})
            """
        },
    )
    with python_worker(code, literal_fd3=True) as worker:
        assert worker.hello() == {"type": "ready"}
        for _ in range(2):
            reply = worker.execute()
            assert reply["statusCode"] == 200
            assert json.loads(reply["response"]) == {"0": "/dev/null", "3": "/dev/null"}


def test_logs_of_one_execution_never_leak_into_another() -> None:
    with python_worker("log_separation") as worker:
        worker.hello()
        first = worker.execute(json.dumps({"marker": "AAA"}))
        second = worker.execute(json.dumps({"marker": "BBB"}))
    assert first["stdout"] == "start AAA\nend AAA\n"
    assert first["stderr"] == "warn AAA\n"
    assert second["stdout"] == "start BBB\nend BBB\n"
    assert second["stderr"] == "warn BBB\n"


def test_user_code_sees_an_empty_stdin(tmp_path: Path) -> None:
    code = _write(
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


def test_crash_ends_the_process_without_a_reply() -> None:
    with python_worker("crash") as worker:
        worker.hello()
        worker.request()
        assert worker.recv() is None
        assert worker.wait() == 1


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
