"""What only the Node adapter (runtimes/node/worker.js) does, driven over the worker protocol.

The behaviour every adapter shares is tested once per language in test_adapters.py. These
tests start the real worker against a user function and check what a user would notice.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.unit.executor.worker_client import node_executable, node_worker, write_files

pytestmark = pytest.mark.skipif(node_executable() is None, reason="node is not on PATH")


# -- loading --------------------------------------------------------------------------------------


def test_missing_dependency_shows_the_require_error(tmp_path: Path) -> None:
    code = write_files(
        tmp_path,
        {
            "index.js": """\
                const sdk = require('node-appwrite');
                module.exports = async (req, res) => res.send('never');
            """
        },
    )
    with node_worker(code) as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert "Cannot find module 'node-appwrite'" in hello["stderr"]
        assert "worker.js" not in hello["stderr"]


def test_default_export_of_transpiled_code_is_called() -> None:
    with node_worker("default_export") as worker:
        assert worker.hello() == {"type": "ready"}
        reply = worker.execute()
    assert json.loads(reply["response"]) == {"greeting": "compiled from TypeScript"}


# -- executions -----------------------------------------------------------------------------------


def test_console_output_is_captured_like_1_3() -> None:
    with node_worker("console_formats") as worker:
        worker.hello()
        first = worker.execute()
        second = worker.execute()
    assert first["response"] == "logged"
    assert first["stdout"] == (
        "module loaded\n"
        "text 42 true null undefined\n"
        '{"a":1,"nested":{"b":[1,2]}} ["x","y"]\n'
        "info line\n"
        "debug line\n"
        "unicode êä"
    )
    # console.error/warn go to stderr; an Error object goes through JSON.stringify as in 1.3.
    assert first["stderr"] == "warn line\n{}"
    assert second["stdout"].startswith("text 42")


def test_rejected_promise_gives_500_with_logs_and_stack() -> None:
    with node_worker("throw_error") as worker:
        worker.hello()
        reply = worker.execute(json.dumps({"id": 7}))
        assert reply["statusCode"] == 500
        assert reply["response"] == ""
        assert reply["stdout"] == "processing order"
        stderr = reply["stderr"]
        assert stderr.startswith("this goes to stderr\nError: Order has no items\n")
        assert "at loadOrder (" in stderr
        assert "worker.js" not in stderr
        ok = worker.execute(json.dumps({"items": [1, 2]}))
        assert ok["statusCode"] == 200
        assert json.loads(ok["response"]) == {"count": 2}


def test_synchronous_throw_gives_500() -> None:
    with node_worker("bad_json") as worker:
        worker.hello()
        reply = worker.execute("not json")
        assert reply["statusCode"] == 500
        assert reply["stderr"].startswith("SyntaxError: ")
        assert worker.execute('{"value": 3}')["response"] == "3"


def test_undefined_is_turned_into_an_empty_response() -> None:
    # The values every language shares are in test_adapters.py; this one is Node's own.
    with node_worker("response_values") as worker:
        worker.hello()
        assert worker.execute("undefined")["response"] == ""


def test_res_called_after_the_function_returned_still_answers() -> None:
    with node_worker("late_res") as worker:
        worker.hello()
        reply = worker.execute("100")
        assert reply["response"] == "late answer"
        assert reply["stdout"] == "scheduling the answer\nanswering late"
        assert "returned without calling res.send() or res.json()" in worker.stderr


def test_no_res_sends_nothing_and_eof_still_exits() -> None:
    with node_worker("no_res") as worker:
        worker.hello()
        worker.request()
        with pytest.raises(TimeoutError):
            worker.recv(timeout=0.5)
        assert "returned without calling res.send() or res.json()" in worker.stderr
        assert worker.proc.poll() is None
        worker.close_stdin()
        assert worker.wait() == 0


def test_second_res_call_is_ignored_and_the_worker_survives() -> None:
    with node_worker("double_res") as worker:
        worker.hello()
        first = worker.execute()
        assert first["statusCode"] == 400
        assert json.loads(first["response"]) == {
            "success": False,
            "message": "Payload is missing.",
        }
        warning = worker.wait_for_stderr("res.json() was called after the response had been sent")
        assert first["id"] in warning
        second = worker.execute("data")
        assert (second["statusCode"], second["response"]) == (200, '{"success":true}')


def test_timer_error_after_the_reply_is_logged_and_the_worker_keeps_serving() -> None:
    with node_worker("timer_throw") as worker:
        worker.hello()
        first = worker.execute(json.dumps({"throwIn": 100}))
        assert (first["statusCode"], first["response"]) == (200, "answered")
        # The first execution's timer fires while this one is still running: it must not fail.
        second = worker.execute(json.dumps({"throwIn": 60000, "answerIn": 300}))
        assert (second["statusCode"], second["response"]) == (200, "answered")
        assert second["stderr"] == ""
        log = worker.wait_for_stderr("boom from a timer")
        assert f"execution {first['id']}: an uncaught exception after its response was sent" in log
        # A timer that throws before its own execution answered fails that execution.
        third = worker.execute(json.dumps({"throwIn": 20, "answerIn": 300}))
        assert third["statusCode"] == 500
        assert third["stderr"].startswith("Error: boom from a timer\n")
        assert worker.proc.poll() is None


def test_unhandled_rejection_before_the_reply_fails_the_execution(tmp_path: Path) -> None:
    code = write_files(
        tmp_path,
        {
            "index.js": """\
                module.exports = (req, res) => {
                  console.log('starting');
                  Promise.reject(new Error('stray rejection'));
                  setTimeout(() => res.send('too late'), 200);
                };
            """
        },
    )
    with node_worker(code) as worker:
        worker.hello()
        reply = worker.execute()
        assert reply["statusCode"] == 500
        assert reply["stdout"] == "starting"
        assert reply["stderr"].startswith("Error: stray rejection\n")
        # Its own late res call is ignored; the worker serves the next execution.
        worker.wait_for_stderr("res.send() was called after the response had been sent")
        assert worker.execute()["statusCode"] == 500


def test_what_an_execution_logs_after_its_reply_goes_to_the_worker_log() -> None:
    with node_worker("log_separation") as worker:
        worker.hello()
        first = worker.execute(json.dumps({"marker": "AAA", "ms": 100}))
        second = worker.execute(json.dumps({"marker": "BBB", "ms": 100}))
        assert first["stdout"] == "start AAA\nend AAA"
        assert first["stderr"] == "warn AAA"
        # "after AAA" was logged while BBB ran; it belongs to AAA, so it goes to the worker's log.
        assert second["stdout"] == "start BBB\nend BBB"
        assert second["stderr"] == "warn BBB"
        deadline = time.monotonic() + 5
        while "after BBB" not in worker.stdout and time.monotonic() < deadline:
            time.sleep(0.02)
        assert worker.stdout == "after AAA\nafter BBB\n"


def test_memory_hog_under_a_heap_limit_kills_the_worker() -> None:
    with node_worker("memory_hog", node_args=["--max-old-space-size=64"]) as worker:
        worker.hello()
        worker.request()
        assert worker.recv(timeout=45) is None
        assert worker.wait() != 0
        assert "heap" in worker.stderr.lower()
