"""What only the PHP, Ruby and Deno adapters do (their 1.3 oddities), driven over the worker
protocol with the command line the emulator uses. What every adapter does alike is in
test_adapters.py.
"""

from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest

from tests.unit.executor.language_workers import INTERPRETERS, LANGUAGES, language_worker
from tests.unit.executor.worker_client import write_files

ALL = [
    pytest.param(
        language,
        id=language,
        marks=pytest.mark.skipif(INTERPRETERS[language] is None, reason=f"{language} is missing"),
    )
    for language in LANGUAGES
]


def _only(language: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(INTERPRETERS[language] is None, reason=f"{language} is missing")


# -- shared behaviour ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ALL)
def test_a_non_string_payload_reaches_the_function_as_json_text(language: str) -> None:
    with language_worker(language, "env_echo") as worker:
        worker.hello()
        worker.send(
            {"type": "execute", "id": "e1", "payload": {"a": 1}, "variables": {}, "headers": {}}
        )
        reply = worker.recv()
        assert reply is not None
        assert json.loads(json.loads(reply["response"])["payload"]) == {"a": 1}


@pytest.mark.parametrize("language", ALL)
def test_an_error_gives_500_with_the_message_the_trace_and_what_was_printed(
    language: str,
) -> None:
    with language_worker(language, "throw_error") as worker:
        worker.hello()
        reply = worker.execute()
        assert (reply["statusCode"], reply["response"]) == (500, "")
        assert "before the error" in reply["stdout"]
        assert "Something went wrong" in reply["stderr"]
        assert "throw_error/" in reply["stderr"]  # where it was thrown
        assert "worker." not in reply["stderr"]
        # The worker survives and serves the next execution.
        assert worker.execute()["statusCode"] == 500
        assert worker.proc.poll() is None


@pytest.mark.parametrize("language", ALL)
def test_a_memory_hog_never_takes_more_than_the_cap(language: str) -> None:
    # Deno's V8 needs a larger OS cap to start; its heap limit (from memory_mb) stops it first.
    cap = (1024 if language == "deno" else 256) * 1024 * 1024

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))

    with language_worker(language, "memory_hog", memory_mb=256, preexec_fn=limit) as worker:
        worker.hello()
        worker.request()
        reply = worker.recv(timeout=30)
        if reply is None:  # PHP and Deno stop at their own limit: the process ends
            assert language in ("php", "deno")
            assert "memory" in worker.stderr.lower()
        else:  # Ruby: NoMemoryError fails this execution only
            assert reply["statusCode"] == 500
            assert "NoMemoryError" in reply["stderr"] or "memory" in reply["stderr"]
            assert worker.execute("x")["statusCode"] == 500


@pytest.mark.parametrize("language", ALL)
def test_user_code_cannot_reach_the_protocol(language: str, tmp_path: Path) -> None:
    """Reading stdin finds nothing, and a write to fd 3 goes nowhere (PHP, Ruby) or cannot be
    made at all (Deno has no way to write to a raw descriptor)."""
    source = {
        "php": """
            <?php
            return function ($req, $res) {
                $in = fopen('php://stdin', 'r');
                $read = fread($in, 100);
                $fd3 = @fopen('php://fd/3', 'w');
                if ($fd3) { fwrite($fd3, "junk\\n"); }
                $res->send(json_encode(['read' => $read]));
            };
            """,
        "ruby": """
            def main(req, res)
              read = $stdin.read_nonblock(100, exception: false)
              IO.for_fd(3, autoclose: false).write("junk\\n") rescue nil
              res.send(JSON.generate({ 'read' => read.is_a?(String) ? read : nil }))
            end
            """,
        "deno": """
            export default async (req: any, res: any) => {
              const n = await Deno.stdin.read(new Uint8Array(100));
              res.send(JSON.stringify({ read: n === null ? '' : 'something' }));
            };
            """,
    }[language]
    entry = {"php": "index.php", "ruby": "index.rb", "deno": "mod.ts"}[language]
    folder = write_files(tmp_path, {entry: source})
    with language_worker(language, folder, literal_fd3=True) as worker:
        worker.hello()
        worker.request("first")
        worker.request("second")  # waits in the pipe while the first runs: nothing may read it
        replies = [worker.recv(), worker.recv()]
        for reply in replies:
            assert reply is not None and reply["type"] == "result", reply
            assert json.loads(reply["response"])["read"] in ("", None), reply


# -- PHP -------------------------------------------------------------------------------------------


@_only("php")
def test_php_echo_warnings_and_load_output_are_stdout() -> None:
    with language_worker("php", "load_output") as worker:
        worker.hello()
        first = worker.execute()
        assert first["response"] == "ok"
        assert first["stdout"].startswith("loading the function\nrunning\n")
        assert "Warning: Undefined variable $undefined_variable" in first["stdout"]
        assert "[a] => 1" in first["stdout"]
        second = worker.execute()
        assert second["stdout"].startswith("running\n")


@_only("php")
def test_php_response_values_become_text() -> None:
    expected = {
        "list": "[1,2]",
        "map": '{"a":"b/c","ü":"ß"}',  # no escaped slashes or unicode (1.3 re-encoded later)
        "empty_array": "[]",
        "float": "1.5",
        "object": "{}",
    }
    with language_worker("php", "response_values") as worker:
        worker.hello()
        got = {name: worker.execute(name)["response"] for name in expected}
        assert got == expected


@pytest.mark.parametrize(
    "language", [pytest.param(name, marks=_only(name)) for name in ("php", "ruby")]
)
def test_php_and_ruby_without_res_answer_200_and_an_empty_response(language: str) -> None:
    # PHP's function returns nothing; Ruby's main returns nil.
    with language_worker(language, "no_res") as worker:
        worker.hello()
        reply = worker.execute()
        assert (reply["statusCode"], reply["response"], reply["stdout"]) == (
            200,
            "",
            "did nothing\n",
        )


@_only("php")
def test_php_error_text_is_the_message_then_the_trace() -> None:
    with language_worker("php", "throw_error") as worker:
        worker.hello()
        stderr = worker.execute()["stderr"]
        message, _, trace = stderr.partition("\r\n")
        assert message == "Something went wrong"
        assert "RuntimeException" in trace
        assert "fail_deeper()" in trace


@_only("php")
def test_php_a_fatal_error_ends_the_worker_and_says_why(tmp_path: Path) -> None:
    folder = write_files(
        tmp_path,
        {
            "index.php": """
                <?php
                return function ($req, $res) {
                    ini_set('memory_limit', '16M');
                    $s = str_repeat('x', 64 * 1024 * 1024);
                };
                """
        },
    )
    with language_worker("php", folder) as worker:
        worker.hello()
        worker.request()
        assert worker.recv() is None
        assert "out of memory" in worker.wait_for_stderr("Allowed memory size")


# -- Ruby ------------------------------------------------------------------------------------------


@_only("ruby")
def test_ruby_the_return_value_of_main_is_the_response_and_the_file_is_reloaded() -> None:
    with language_worker("ruby", "load_output") as worker:
        worker.hello()
        first = worker.execute()
        second = worker.execute()
        assert json.loads(first["response"]) == {"loads": 1}
        assert json.loads(second["response"]) == {"loads": 2}  # loaded again for every request
        assert first["stdout"] == "load number 1\n"
        assert second["stdout"] == "load number 2\n"


@_only("ruby")
def test_ruby_status_is_always_200_and_send_takes_no_status() -> None:
    with language_worker("ruby", "status") as worker:
        worker.hello()
        reply = worker.execute()
        assert (reply["statusCode"], reply["response"]) == (200, "always 200")
        with_status = worker.execute(json.dumps({"status": 404}))
        assert with_status["statusCode"] == 500
        assert (
            "wrong number of arguments (given 2, expected 1) (ArgumentError)"
            in (with_status["stderr"])
        )


@_only("ruby")
def test_ruby_symbols_and_floats_become_text() -> None:
    with language_worker("ruby", "response_values") as worker:
        worker.hello()
        assert [worker.execute(name)["response"] for name in ("symbol", "float")] == ["sym", "1.5"]


@_only("ruby")
def test_ruby_error_keeps_stderr_then_the_error_and_backtrace() -> None:
    with language_worker("ruby", "throw_error") as worker:
        worker.hello()
        reply = worker.execute()
        assert reply["stderr"].startswith("a warning first\n")
        assert "Something went wrong (ArgumentError)" in reply["stderr"]
        assert "in `fail_deeper'" in reply["stderr"]


# -- Deno ------------------------------------------------------------------------------------------


@_only("deno")
def test_deno_res_after_return_answers_and_a_second_call_is_ignored() -> None:
    with language_worker("deno", "late_res") as worker:
        worker.hello()
        assert worker.execute()["response"] == "late 1"
        assert worker.execute()["response"] == "late 2"
        assert "res.send() was called after the response" in worker.wait_for_stderr("ignored")


@_only("deno")
def test_deno_without_res_sends_nothing_until_the_emulator_gives_up() -> None:
    with language_worker("deno", "no_res") as worker:
        worker.hello()
        worker.request()
        with pytest.raises(TimeoutError):
            worker.recv(timeout=1)
        assert "returned without calling res.send()" in worker.stderr
        worker.close_stdin()
        assert worker.wait() == 0


@_only("deno")
def test_deno_console_lines_are_formatted_like_1_3(tmp_path: Path) -> None:
    folder = write_files(
        tmp_path,
        {
            "mod.ts": """
                export default (req: any, res: any) => {
                  console.log('text', { a: 1 }, [1, 2], 3, null);
                  console.info('info');
                  console.error(new Error('x'));
                  console.dir({ b: 2 });
                  console.table([1]);
                  res.send('ok');
                };
                """
        },
    )
    with language_worker("deno", folder) as worker:
        worker.hello()
        reply = worker.execute()
        assert reply["stdout"].splitlines()[:2] == ['text {"a":1} [1,2] 3 null', "info"]
        assert reply["stderr"] == "{}"
        assert worker.proc.poll() is None
