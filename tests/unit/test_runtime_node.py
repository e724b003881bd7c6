"""The Node adapter (runtimes/node/worker.js), driven over the worker protocol.

Every test starts the real worker process against a user function from tests/fixtures and checks
what a user would notice: the response, the status, the logs, state kept between executions.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

try:
    from worker_client import node_executable, node_worker, peak_rss_mb
except ImportError:  # tests/unit imported as a package
    from tests.unit.worker_client import node_executable, node_worker, peak_rss_mb

pytestmark = pytest.mark.skipif(node_executable() is None, reason="node is not on PATH")


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
    "APPWRITE_FUNCTION_RUNTIME_NAME": "Node.js",
    "APPWRITE_FUNCTION_RUNTIME_VERSION": "18.0",
    "APPWRITE_FUNCTION_DATA": "hello",
    "APPWRITE_FUNCTION_PROJECT_ID": "proj",
    "APPWRITE_FUNCTION_USER_ID": "",
    "APPWRITE_FUNCTION_JWT": "",
}


# -- loading --------------------------------------------------------------------------------------


def test_hello_is_ready_and_stdin_eof_exits_zero() -> None:
    with node_worker("counter") as worker:
        assert worker.hello() == {"type": "ready"}
        worker.close_stdin()
        assert worker.wait() == 0


def test_replies_on_literal_fd_3() -> None:
    with node_worker("counter", literal_fd3=True) as worker:
        assert worker.hello() == {"type": "ready"}
        assert json.loads(worker.execute()["response"]) == {"count": 1}


def test_syntax_error_is_reported_on_hello_and_every_request() -> None:
    with node_worker("syntax_error") as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert "SyntaxError" in hello["stderr"]
        assert "syntax_error/index.js:2" in hello["stderr"]
        assert "worker.js" not in hello["stderr"]
        for _ in range(2):
            reply = worker.execute("x")
            assert reply["statusCode"] == 500
            assert reply["response"] == ""
            assert "SyntaxError" in reply["stderr"]
        assert worker.proc.poll() is None


def test_export_that_is_not_a_function_is_a_load_error() -> None:
    with node_worker("not_a_function") as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert "does not export a function" in hello["stderr"]
        assert worker.execute()["statusCode"] == 500


def test_missing_entrypoint_is_a_load_error() -> None:
    with node_worker("counter", "src/index.js") as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert "src/index.js" in hello["stderr"]
        reply = worker.execute()
        assert reply["statusCode"] == 500
        assert "Entrypoint file not found" in reply["stderr"]


def test_missing_dependency_shows_the_require_error(tmp_path: Path) -> None:
    code = _write(
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


def test_relative_require_from_a_subfolder() -> None:
    with node_worker("relative_import", "src/index.js") as worker:
        assert worker.hello() == {"type": "ready"}
        reply = worker.execute(json.dumps({"name": "Ada"}))
    assert reply["statusCode"] == 200
    assert json.loads(reply["response"]) == {"greeting": "Hello, Ada!", "loud": "HELLO, ADA!"}


def test_default_export_of_transpiled_code_is_called() -> None:
    with node_worker("default_export") as worker:
        assert worker.hello() == {"type": "ready"}
        reply = worker.execute()
    assert json.loads(reply["response"]) == {"greeting": "compiled from TypeScript"}


# -- executions -----------------------------------------------------------------------------------


def test_env_echo_sees_payload_headers_variables_and_environment() -> None:
    variables = {**APPWRITE_VARIABLES, "CUSTOM_VARIABLE": "custom êä"}
    with node_worker("env_echo") as worker:
        assert worker.hello() == {"type": "ready"}
        reply = worker.execute("hello", variables, {"x-test": "1"})
    assert reply["statusCode"] == 200
    assert reply["stdout"] == "env echo for fn1"
    assert reply["stderr"] == ""
    body = json.loads(reply["response"])
    assert body["payload"] == "hello"
    assert body["headers"] == {"x-test": "1"}
    assert body["variables"] == variables
    assert body["env"]["APPWRITE_FUNCTION_ID"] == "fn1"
    assert body["env"]["APPWRITE_FUNCTION_EVENT"] is None
    assert body["env"]["CUSTOM_VARIABLE"] == "custom êä"
    assert body["unicode"] == "êä"
    # Compact JSON in insertion order, unicode kept raw.
    assert reply["response"].startswith('{"payload":"hello","headers":{')
    assert '"unicode":"êä"' in reply["response"]


def test_environment_is_refreshed_for_every_execution() -> None:
    with node_worker("env_echo") as worker:
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
    with node_worker("counter") as worker:
        worker.hello()
        counts = [json.loads(worker.execute()["response"])["count"] for _ in range(3)]
    assert counts == [1, 2, 3]
    with node_worker("counter") as fresh:
        fresh.hello()
        assert json.loads(fresh.execute()["response"]) == {"count": 1}


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


def test_status_from_res_send_and_res_json_is_passed_through() -> None:
    with node_worker("status") as worker:
        worker.hello()
        reply = worker.execute(json.dumps({"status": 404}))
        assert (reply["statusCode"], reply["response"]) == (404, "x")
        assert reply["stderr"] == "answering with 404"
        reply = worker.execute(json.dumps({"status": 201, "json": True}))
        assert (reply["statusCode"], reply["response"]) == (201, '{"status":201}')
        reply = worker.execute(json.dumps({"status": "abc"}))
        assert reply["statusCode"] == 500
        assert "RangeError: Invalid status code: abc" in reply["stderr"]


def test_response_values_are_turned_into_text(tmp_path: Path) -> None:
    code = _write(
        tmp_path,
        {
            "index.js": """\
                const VALUES = {
                  undefined: undefined, null: null, true: true, false: false, number: 42,
                  array: [1, 'b', { z: 1, a: 2 }], empty: {},
                };
                module.exports = (req, res) => res.send(VALUES[req.payload]);
            """
        },
    )
    expected = {
        "undefined": "",
        "null": "",
        "true": "1",
        "false": "",
        "number": "42",
        "array": '[1,"b",{"z":1,"a":2}]',
        "empty": "{}",
    }
    with node_worker(code) as worker:
        worker.hello()
        got = {key: worker.execute(key)["response"] for key in expected}
    assert got == expected


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
    code = _write(
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


def test_sleep_holds_the_reply() -> None:
    with node_worker("sleep") as worker:
        worker.hello()
        started = time.monotonic()
        reply = worker.execute(json.dumps({"seconds": 0.3}))
        assert time.monotonic() - started >= 0.3
    assert reply["response"] == "slept 0.3"
    assert reply["stdout"] == "sleeping 0.3"


def test_big_output_is_cut_to_one_million_bytes_by_the_worker() -> None:
    with node_worker("big_output") as worker:
        worker.hello()
        reply = worker.execute(timeout=30)
    assert reply["statusCode"] == 200
    assert reply["response"] == "r" * 1_000_000
    # 2048 lines of 1023 bytes joined by "\n": 976 whole lines and the start of the next one.
    assert reply["stdout"] == ("o" * 1023 + "\n") * 976 + "o" * 576
    assert "stdout was cut to its first 1000000 bytes" in worker.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_hundreds_of_megabytes_of_output_keep_the_worker_small(tmp_path: Path) -> None:
    code = _write(
        tmp_path,
        {
            "index.js": """\
                module.exports = async (req, res) => {
                  const line = 'x'.repeat(1023);
                  for (let i = 0; i < 300 * 1024; i++) console.log(line); // 300 MB
                  const block = 'e'.repeat(1024 * 1024);
                  for (let i = 0; i < 100; i++) console.error(block); // 100 MB
                  res.send('y'.repeat(20 * 1024 * 1024));
                };
            """
        },
    )
    with node_worker(code) as worker:
        worker.hello()
        reply = worker.execute(timeout=60)
        assert reply["statusCode"] == 200
        assert reply["stdout"] == ("x" * 1023 + "\n") * 976 + "x" * 576
        assert reply["stderr"] == "e" * 1_000_000
        assert reply["response"] == "y" * 1_000_000
        assert peak_rss_mb(worker.proc.pid) < 150
        assert worker.execute(timeout=60)["statusCode"] == 200  # the worker is still there


def test_outputs_are_cut_without_splitting_a_character(tmp_path: Path) -> None:
    code = _write(
        tmp_path,
        {
            "index.js": """\
                module.exports = (req, res) => {
                  console.log('a' + '\\u{1F600}'.repeat(300000));
                  console.error('\\u20ac'.repeat(400000));
                  res.send('\\u00e9'.repeat(600000));
                };
            """
        },
    )
    with node_worker(code) as worker:
        worker.hello()
        reply = worker.execute()
    assert reply["stdout"] == "a" + "\U0001f600" * 249_999
    assert reply["stderr"] == "\u20ac" * 333_333  # 999,999 bytes: the next one would not fit
    assert reply["response"] == "\u00e9" * 500_000


PROTOCOL_TAMPERING = """\
    const fs = require('fs');
    const { spawn } = require('child_process');

    const argv = process.argv;
    const replyFd = argv.indexOf('--reply-fd') === -1 ? 3 : Number(argv[argv.indexOf('--reply-fd') + 1]);
    fs.writeSync(replyFd, 'junk written while loading');

    module.exports = (req, res) => {
      const action = req.payload;
      if (action === 'reply-fd') {
        fs.writeSync(replyFd, 'junk');
        fs.writeSync(replyFd, '{"type": "result", "statusCode": 418}\\n');
      } else if (action === 'cat') {
        spawn('cat', [], { stdio: 'inherit' }); // would read the next request
      } else if (action === 'read') {
        let text = '';
        process.stdin.on('data', (chunk) => { text += chunk; });
        process.stdin.on('end', () => res.send('read ' + JSON.stringify(text)));
        return;
      } else if (action === 'pause') {
        process.stdin.pause();
      } else if (action === 'destroy') {
        process.stdin.destroy();
      }
      res.json({ action, fd0: fs.readlinkSync('/proc/self/fd/0'), reply: fs.readlinkSync('/proc/self/fd/' + replyFd) });
    };
"""


@pytest.mark.parametrize("literal_fd3", [True, False], ids=["fd3", "reply-fd"])
def test_user_code_cannot_reach_the_protocol_descriptors(tmp_path: Path, literal_fd3: bool) -> None:
    code = _write(tmp_path, {"index.js": PROTOCOL_TAMPERING})
    with node_worker(code, literal_fd3=literal_fd3) as worker:
        assert worker.hello() == {"type": "ready"}
        for action in ("reply-fd", "reply-fd", "cat", "after-cat", "read", "pause", "destroy"):
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


def test_logs_of_one_execution_never_leak_into_another() -> None:
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


def test_crash_ends_the_process_without_a_reply() -> None:
    with node_worker("crash") as worker:
        worker.hello()
        worker.request()
        assert worker.recv() is None
        assert worker.wait() == 1


def test_memory_hog_under_a_heap_limit_kills_the_worker() -> None:
    with node_worker("memory_hog", node_args=["--max-old-space-size=64"]) as worker:
        worker.hello()
        worker.request()
        assert worker.recv(timeout=45) is None
        assert worker.wait() != 0
        assert "heap" in worker.stderr.lower()
