"""What every language adapter (runtimes/<language>/) does alike, driven over the worker protocol.

Each test runs once per language of `worker_client.LANGUAGES` (skipped where its interpreter is not
installed): it starts the real worker against the language's fixture function of the same name in
tests/fixtures/functions/<language>/ and checks what a user would notice: the response, the status,
the logs, state kept between executions. What one language does its own way is tested in
test_adapter_<language>.py.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest

from emulator.executor.protocol import LoadError, Ready, ReplyReader, Result, ResultMessage
from tests.unit.executor.worker_client import Language, language_params, peak_rss_mb, start_worker


@pytest.fixture(params=language_params())
def language(request: pytest.FixtureRequest) -> Language:
    param: Language = request.param
    return param


def appwrite_variables(language: Language) -> dict[str, str]:
    return {
        "APPWRITE_FUNCTION_ID": "fn1",
        "APPWRITE_FUNCTION_NAME": "Echo",
        "APPWRITE_FUNCTION_DEPLOYMENT": "dep1",
        "APPWRITE_FUNCTION_TRIGGER": "http",
        "APPWRITE_FUNCTION_RUNTIME_NAME": language.runtime_name,
        "APPWRITE_FUNCTION_RUNTIME_VERSION": language.runtime_version,
        "APPWRITE_FUNCTION_DATA": "hello",
        "APPWRITE_FUNCTION_PROJECT_ID": "proj",
        "APPWRITE_FUNCTION_USER_ID": "",
        "APPWRITE_FUNCTION_JWT": "",
    }


def stderr_of(language: Language, *lines: str) -> str:
    """The captured stderr of an execution that logged `lines` as errors (PHP captures none)."""
    return language.logged(*lines) if language.captures_stderr else ""


# -- the protocol -----------------------------------------------------------------------------------


def test_hello_is_ready_and_stdin_eof_exits_zero(language: Language) -> None:
    with start_worker(language, "counter") as worker:
        assert worker.hello() == {"type": "ready"}
        worker.close_stdin()
        assert worker.wait() == 0


def test_replies_on_literal_fd_3(language: Language) -> None:
    with start_worker(language, "counter", literal_fd3=True) as worker:
        assert worker.hello() == {"type": "ready"}
        assert json.loads(worker.execute()["response"]) == {"count": 1}


def test_replies_decode_as_the_executor_reads_them(language: Language) -> None:
    with start_worker(language, "counter") as worker:
        worker.hello()
        exec_id = worker.request()
        worker.recv()
    with start_worker(language, "syntax_error") as broken:
        broken.hello()
    reader = ReplyReader()
    assert list(reader.feed(b"".join(worker.lines))) == [
        Ready(),
        Result(exec_id, 200, '{"count":1}', "", ""),
    ]
    assert list(json.loads(worker.lines[1])) == list(ResultMessage.__annotations__)
    (load_error,) = reader.feed(broken.lines[0])
    assert isinstance(load_error, LoadError) and language.syntax_error_text in load_error.stderr


def test_lines_that_are_not_requests_are_ignored_with_a_diagnostic(language: Language) -> None:
    with start_worker(language, "counter") as worker:
        worker.hello()
        worker.send_line(b"not json\n")
        worker.send_line(b"[1, 2]\n")
        worker.send({"type": "ping", "id": "p1"})
        assert json.loads(worker.execute()["response"]) == {"count": 1}
        log = worker.wait_for_stderr("ignored a request of unknown type")
        assert "[appwrite-worker] ignored a request line that is not JSON" in log
        assert "that is not a JSON object" in log
        assert "ping" in log


@pytest.mark.parametrize("literal_fd3", [True, False], ids=["fd3", "reply-fd"])
def test_user_code_cannot_reach_the_protocol_descriptors(
    language: Language, literal_fd3: bool
) -> None:
    if not language.private_stdin:
        pytest.skip(f"{language.name} keeps the requests on fd 0 (its own stdin API reads empty)")
    actions = ("reply-fd", "reply-fd", "cat", "after-cat", "read", *language.stdin_closers)
    with start_worker(language, "protocol_tampering", literal_fd3=literal_fd3) as worker:
        assert worker.hello() == {"type": "ready"}  # the junk written while loading went nowhere
        for action in actions:
            reply = worker.execute(action, timeout=5)
            assert reply["statusCode"] == 200, reply
            if action == "read":
                assert reply["response"] == 'read ""'  # /dev/null
            else:
                body = json.loads(reply["response"])
                assert body == {"action": action, "fd0": "/dev/null", "reply": "/dev/null"}
        assert worker.execute("last")["statusCode"] == 200
        worker.close_stdin()
        assert worker.wait() == 0


def test_crash_ends_the_process_without_a_reply(language: Language) -> None:
    with start_worker(language, "crash") as worker:
        worker.hello()
        worker.request()
        assert worker.recv() is None
        assert worker.wait() == 1


# -- loading ----------------------------------------------------------------------------------------


def test_syntax_error_is_reported_on_hello_and_every_request(language: Language) -> None:
    with start_worker(language, "syntax_error") as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert language.syntax_error_text in hello["stderr"]
        assert language.syntax_error_at in hello["stderr"]
        assert language.worker not in hello["stderr"]
        for _ in range(2):
            reply = worker.execute("x")
            assert reply["statusCode"] == 500
            assert reply["response"] == ""
            assert language.syntax_error_text in reply["stderr"]
        assert worker.proc.poll() is None


def test_an_entrypoint_without_a_function_is_a_load_error(language: Language) -> None:
    with start_worker(language, "no_function") as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert language.no_function_error in hello["stderr"]
        reply = worker.execute()
        assert reply["statusCode"] == 500
        assert language.no_function_error in reply["stderr"]


def test_missing_entrypoint_is_a_load_error(language: Language) -> None:
    missing = "src/nope" + language.entrypoint[language.entrypoint.rindex(".") :]
    with start_worker(language, "counter", missing) as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert missing in hello["stderr"]
        reply = worker.execute()
        assert reply["statusCode"] == 500
        assert "Entrypoint file not found" in reply["stderr"]


def test_relative_imports_work_in_a_subfolder(language: Language) -> None:
    with start_worker(language, "relative_import", f"src/{language.entrypoint}") as worker:
        assert worker.hello() == {"type": "ready"}
        reply = worker.execute(json.dumps({"name": "Ada"}))
    assert reply["statusCode"] == 200
    assert json.loads(reply["response"]) == {"greeting": "Hello, Ada!", "loud": "HELLO, ADA!"}


# -- executions -------------------------------------------------------------------------------------


def test_env_echo_sees_payload_headers_variables_and_environment(language: Language) -> None:
    variables = {**appwrite_variables(language), "CUSTOM_VARIABLE": "custom êä"}
    with start_worker(language, "env_echo") as worker:
        assert worker.hello() == {"type": "ready"}
        reply = worker.execute("hello", variables, {"x-test": "1"})
    assert reply["statusCode"] == 200
    assert reply["stdout"] == language.logged("env echo for fn1")
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
    # Compact JSON, unicode kept raw, keys sorted (Python, as 1.3's Flask runtime) or in the order
    # the function built the object (the fixtures all build it in this order).
    order = ["payload", "headers", "variables", "env", "unicode"]
    assert list(body) == (sorted(order) if language.sorted_keys else order)
    compact = json.dumps(
        body, ensure_ascii=False, separators=(",", ":"), sort_keys=language.sorted_keys
    )
    assert reply["response"] == compact
    assert '"unicode":"êä"' in reply["response"]


def test_environment_is_refreshed_for_every_execution(language: Language) -> None:
    with start_worker(language, "env_echo") as worker:
        worker.hello()
        first = json.loads(
            worker.execute("", {"APPWRITE_FUNCTION_ID": "a", "CUSTOM_VARIABLE": "one"})["response"]
        )
        second = json.loads(worker.execute("", {"APPWRITE_FUNCTION_ID": "b"})["response"])
    assert first["env"]["CUSTOM_VARIABLE"] == "one"
    assert second["env"]["APPWRITE_FUNCTION_ID"] == "b"
    assert second["env"]["CUSTOM_VARIABLE"] is None
    assert second["variables"] == {"APPWRITE_FUNCTION_ID": "b"}


def test_module_state_persists_across_executions_of_one_worker(language: Language) -> None:
    with start_worker(language, "counter") as worker:
        worker.hello()
        counts = [json.loads(worker.execute()["response"])["count"] for _ in range(3)]
    assert counts == [1, 2, 3]
    with start_worker(language, "counter") as fresh:
        fresh.hello()
        assert json.loads(fresh.execute()["response"]) == {"count": 1}


def test_status_from_res_send_and_res_json_is_passed_through(language: Language) -> None:
    if not language.status_argument:
        pytest.skip(f"{language.name}'s res takes no status (always 200, as in 1.3)")
    with start_worker(language, "status") as worker:
        worker.hello()
        reply = worker.execute(json.dumps({"status": 404}))
        assert (reply["statusCode"], reply["response"]) == (404, "x")
        assert reply["stderr"] == stderr_of(language, "answering with 404")
        reply = worker.execute(json.dumps({"status": 201, "json": True}))
        assert (reply["statusCode"], reply["response"]) == (201, '{"status":201}')
        reply = worker.execute(json.dumps({"status": "abc"}))
        assert reply["statusCode"] == 500
        assert language.invalid_status_error in reply["stderr"]


RESPONSE_TEXTS = {"null": "", "true": "1", "false": "", "number": "42", "empty": "{}"}
"""What every adapter makes of a value given to `res`; the languages' own extras are in their files."""


def test_response_values_are_turned_into_text(language: Language) -> None:
    array = '[1,"b",{"a":2,"z":1}]' if language.sorted_keys else '[1,"b",{"z":1,"a":2}]'
    expected = {**RESPONSE_TEXTS, "array": array}
    with start_worker(language, "response_values") as worker:
        worker.hello()
        got = {key: worker.execute(key)["response"] for key in expected}
    assert got == expected


def test_sleep_holds_the_reply_until_the_function_is_done(language: Language) -> None:
    with start_worker(language, "sleep") as worker:
        worker.hello()
        started = time.monotonic()
        reply = worker.execute(json.dumps({"seconds": 0.3}))
        assert time.monotonic() - started >= 0.3
    assert reply["response"] == "slept 0.3"
    assert reply["stdout"] == language.logged("sleeping 0.3")


def test_logs_of_one_execution_never_leak_into_another(language: Language) -> None:
    with start_worker(language, "log_separation") as worker:
        worker.hello()
        first = worker.execute(json.dumps({"marker": "AAA"}))
        second = worker.execute(json.dumps({"marker": "BBB"}))
    assert first["stdout"] == language.logged("start AAA", "end AAA")
    assert first["stderr"] == stderr_of(language, "warn AAA")
    assert second["stdout"] == language.logged("start BBB", "end BBB")
    assert second["stderr"] == stderr_of(language, "warn BBB")


# -- output limits ----------------------------------------------------------------------------------


def test_big_output_is_cut_to_one_million_bytes_by_the_worker(language: Language) -> None:
    with start_worker(language, "big_output") as worker:
        worker.hello()
        reply = worker.execute(timeout=30)
    assert reply["statusCode"] == 200
    assert reply["response"] == "r" * 1_000_000
    # 2048 lines of 1023 "o"s were logged: 976 whole lines and the start of the next one.
    assert reply["stdout"] == ("o" * 1023 + "\n") * 976 + "o" * 576
    assert "stdout was cut to its first 1000000 bytes" in worker.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_hundreds_of_megabytes_of_output_keep_the_worker_small(language: Language) -> None:
    with start_worker(language, "output_flood") as worker:
        worker.hello()
        reply = worker.execute(timeout=60)
        assert reply["statusCode"] == 200
        assert reply["stdout"] == ("x" * 1023 + "\n") * 976 + "x" * 576
        assert reply["stderr"] == ("e" * 1_000_000 if language.captures_stderr else "")
        assert reply["response"] == "y" * 1_000_000
        assert peak_rss_mb(worker.proc.pid) < 150  # 20 MB of the response are the user's own
        assert worker.execute(timeout=60)["statusCode"] == 200  # the worker is still there


def test_outputs_are_cut_without_splitting_a_character(language: Language) -> None:
    with start_worker(language, "multibyte_output") as worker:
        worker.hello()
        reply: dict[str, Any] = worker.execute()
    assert reply["stdout"] == "a" + "\U0001f600" * 249_999
    if language.captures_stderr:  # 999,999 bytes: the next one would not fit
        assert reply["stderr"] == "\u20ac" * 333_333
    assert reply["response"] == "\u00e9" * 500_000
