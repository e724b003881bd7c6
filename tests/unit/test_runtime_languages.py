"""The PHP, Ruby and Deno adapters (runtimes/php, runtimes/ruby, runtimes/deno), driven over the
worker protocol with the command line the emulator uses: the behaviour every adapter shares, then
each language's 1.3 oddities.
"""

from __future__ import annotations

import json
import resource
import textwrap
import time
from pathlib import Path

import pytest

try:
    from language_workers import INTERPRETERS, LANGUAGES, language_worker
    from worker_client import peak_rss_mb
except ImportError:  # tests/unit imported as a package
    from tests.unit.language_workers import INTERPRETERS, LANGUAGES, language_worker
    from tests.unit.worker_client import peak_rss_mb

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


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return folder


# -- shared behaviour ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ALL)
def test_hello_is_ready_and_stdin_eof_exits_zero(language: str) -> None:
    with language_worker(language, "counter") as worker:
        assert worker.hello() == {"type": "ready"}
        worker.close_stdin()
        assert worker.wait() == 0


@pytest.mark.parametrize("language", ALL)
def test_replies_on_literal_fd_3(language: str) -> None:
    with language_worker(language, "counter", literal_fd3=True) as worker:
        assert worker.hello() == {"type": "ready"}
        assert json.loads(worker.execute()["response"]) == {"count": 1}


@pytest.mark.parametrize("language", ALL)
def test_state_persists_across_executions_of_one_worker(language: str) -> None:
    with language_worker(language, "counter") as worker:
        worker.hello()
        counts = [json.loads(worker.execute()["response"])["count"] for _ in range(3)]
        assert counts == [1, 2, 3]


@pytest.mark.parametrize("language", ALL)
def test_syntax_error_is_reported_on_hello_and_every_request(language: str) -> None:
    with language_worker(language, "syntax_error") as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert "syntax_error/" in hello["stderr"]
        assert "worker." not in hello["stderr"]
        for _ in range(2):
            reply = worker.execute("x")
            assert (reply["statusCode"], reply["response"]) == (500, "")
            assert "syntax_error/" in reply["stderr"]
        assert worker.proc.poll() is None


@pytest.mark.parametrize("language", ALL)
def test_a_file_without_the_function_is_a_load_error(language: str) -> None:
    expected = {
        "php": "does not return a function",
        "ruby": "does not define a main method",
        "deno": "has no default export that is a function",
    }[language]
    with language_worker(language, "not_a_function") as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert expected in hello["stderr"]
        reply = worker.execute()
        assert reply["statusCode"] == 500
        assert expected in reply["stderr"]
        assert "loaded" in reply["stdout"]


@pytest.mark.parametrize("language", ALL)
def test_missing_entrypoint_is_a_load_error(language: str) -> None:
    with language_worker(language, "counter", "nope/missing.file") as worker:
        hello = worker.hello()
        assert hello["type"] == "load_error"
        assert "Entrypoint file not found: nope/missing.file" in hello["stderr"]


@pytest.mark.parametrize("language", ALL)
def test_relative_imports_work_from_a_subfolder(language: str) -> None:
    entry = {"php": "src/index.php", "ruby": "src/index.rb", "deno": "src/mod.ts"}[language]
    with language_worker(language, "relative_import", entry) as worker:
        assert worker.hello() == {"type": "ready"}, worker.stderr
        reply = worker.execute("Ada")
        assert reply["statusCode"] == 200, reply
        assert json.loads(reply["response"]) == {"greeting": "Hello, Ada!"}


@pytest.mark.parametrize("language", ALL)
def test_payload_variables_headers_and_environment(language: str) -> None:
    variables = {"APPWRITE_FUNCTION_ID": "fn1", "CUSTOM": "value", "HOME": "/overridden"}
    with language_worker(language, "env_echo") as worker:
        worker.hello()
        reply = worker.execute("the payload", variables, {"x-test": "1"})
        body = json.loads(reply["response"])
        assert body["payload"] == "the payload"
        assert body["variables"] == variables
        assert body["headers"] == {"x-test": "1"}
        assert body["env"]["APPWRITE_FUNCTION_ID"] == "fn1"
        assert body["env"]["CUSTOM"] == "value"
        assert body["env"]["HOME"] == "/overridden"


@pytest.mark.parametrize("language", ALL)
def test_environment_is_refreshed_for_every_execution(language: str) -> None:
    with language_worker(language, "env_echo") as worker:
        worker.hello()
        worker.execute("", {"STALE": "old", "CUSTOM": "1"})
        body = json.loads(worker.execute("", {"CUSTOM": "2"})["response"])
        assert body["env"]["STALE"] is None
        assert body["env"]["CUSTOM"] == "2"
        assert body["env"]["HOME"] == base_home()


def base_home() -> str:
    import os

    return os.environ.get("HOME", "/tmp")


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
def test_sleep_holds_the_reply(language: str) -> None:
    with language_worker(language, "sleep") as worker:
        worker.hello()
        started = time.monotonic()
        reply = worker.execute("1")
        assert reply["response"] == "slept"
        assert time.monotonic() - started >= 0.95


@pytest.mark.parametrize("language", ALL)
def test_a_crash_ends_the_process_without_a_reply(language: str) -> None:
    with language_worker(language, "crash") as worker:
        worker.hello()
        worker.request()
        assert worker.recv() is None
        assert worker.wait() != 0


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
def test_big_output_is_cut_to_one_million_bytes_by_the_worker(
    language: str, tmp_path: Path
) -> None:
    source = {
        "php": """
            <?php
            return function ($req, $res) {
                for ($i = 0; $i < 1500; $i++) { echo str_repeat('é', 500), "\\n"; }
                $res->send(str_repeat('€', 400000));
            };
            """,
        "ruby": """
            def main(req, res)
              1500.times { puts 'é' * 500; $stderr.puts 'é' * 500 }
              res.send('€' * 400_000)
            end
            """,
        "deno": """
            export default (req: any, res: any) => {
              for (let i = 0; i < 1500; i++) { console.log('é'.repeat(500)); console.error('é'.repeat(500)); }
              res.send('€'.repeat(400000));
            };
            """,
    }[language]
    entry = {"php": "index.php", "ruby": "index.rb", "deno": "mod.ts"}[language]
    folder = _write(tmp_path, {entry: source})
    with language_worker(language, folder) as worker:
        worker.hello()
        reply = worker.execute()
        streams = ["stdout", "response"] + ([] if language == "php" else ["stderr"])
        for name in streams:
            size = len(reply[name].encode())
            assert 999_990 < size <= 1_000_000, (name, size)
            assert "\ufffd" not in reply[name]
        assert worker.wait_for_stderr("stdout was cut to its first 1000000 bytes")


@pytest.mark.parametrize("language", ALL)
def test_a_flood_of_output_keeps_the_worker_small(language: str, tmp_path: Path) -> None:
    source = {
        "php": """
            <?php
            return function ($req, $res) {
                $line = str_repeat('x', 1023) . "\\n";
                for ($i = 0; $i < 200 * 1024; $i++) { echo $line; }
                $res->send('done');
            };
            """,
        "ruby": """
            def main(req, res)
              line = 'x' * 1023
              (200 * 1024).times { puts line }
              res.send('done')
            end
            """,
        "deno": """
            export default (req: any, res: any) => {
              const line = 'x'.repeat(1023);
              for (let i = 0; i < 200 * 1024; i++) console.log(line);
              res.send('done');
            };
            """,
    }[language]
    entry = {"php": "index.php", "ruby": "index.rb", "deno": "mod.ts"}[language]
    folder = _write(tmp_path, {entry: source})
    with language_worker(language, folder) as worker:
        worker.hello()
        reply = worker.execute(timeout=60)
        assert reply["response"] == "done"
        assert len(reply["stdout"]) == 1_000_000
        assert peak_rss_mb(worker.proc.pid) < 150


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
    folder = _write(tmp_path, {entry: source})
    with language_worker(language, folder, literal_fd3=True) as worker:
        worker.hello()
        worker.request("first")
        worker.request("second")  # waits in the pipe while the first runs: nothing may read it
        replies = [worker.recv(), worker.recv()]
        for reply in replies:
            assert reply is not None and reply["type"] == "result", reply
            assert json.loads(reply["response"])["read"] in ("", None), reply


@pytest.mark.parametrize("language", ALL)
def test_logs_of_one_execution_never_leak_into_another(language: str, tmp_path: Path) -> None:
    source = {
        "php": """
            <?php
            return function ($req, $res) { echo "log of {$req['payload']}\\n"; $res->send('ok'); };
            """,
        "ruby": """
            def main(req, res)
              puts "log of #{req.payload}"
              res.send('ok')
            end
            """,
        "deno": """
            export default (req: any, res: any) => { console.log('log of ' + req.payload); res.send('ok'); };
            """,
    }[language]
    entry = {"php": "index.php", "ruby": "index.rb", "deno": "mod.ts"}[language]
    folder = _write(tmp_path, {entry: source})
    with language_worker(language, folder) as worker:
        worker.hello()
        for name in ("a", "b", "c"):
            assert worker.execute(name)["stdout"].strip() == f"log of {name}"


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
def test_php_status_from_send_and_json_and_a_bad_status() -> None:
    with language_worker("php", "status") as worker:
        worker.hello()
        assert (worker.execute()["statusCode"], worker.execute()["response"]) == (418, "teapot")
        reply = worker.execute("json")
        assert (reply["statusCode"], json.loads(reply["response"])) == (201, {"created": True})
        bad = worker.execute("bad")
        assert bad["statusCode"] == 500
        assert "Invalid status code" in bad["stderr"]


@_only("php")
def test_php_without_res_answers_200_and_an_empty_response() -> None:
    with language_worker("php", "no_res") as worker:
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
def test_php_response_values_become_text(tmp_path: Path) -> None:
    folder = _write(
        tmp_path,
        {
            "index.php": """
                <?php
                return function ($req, $res) {
                    $values = [
                        'list' => [1, 2], 'map' => ['a' => 'b/c', 'ü' => 'ß'], 'empty' => [],
                        'true' => true, 'false' => false, 'null' => null, 'int' => 42,
                        'float' => 1.5, 'object' => new ArrayObject(),
                    ];
                    $res->send($values[$req['payload']]);
                };
                """
        },
    )
    expected = {
        "list": "[1,2]",
        "map": '{"a":"b/c","ü":"ß"}',
        "empty": "[]",
        "true": "1",
        "false": "",
        "null": "",
        "int": "42",
        "float": "1.5",
        "object": "{}",
    }
    with language_worker("php", folder) as worker:
        worker.hello()
        got = {name: worker.execute(name)["response"] for name in expected}
        assert got == expected


@_only("php")
def test_php_a_fatal_error_ends_the_worker_and_says_why(tmp_path: Path) -> None:
    folder = _write(
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
        assert (worker.execute()["statusCode"], worker.execute()["response"]) == (
            200,
            "always 200",
        )
        reply = worker.execute("with-status")
        assert reply["statusCode"] == 500
        assert "ArgumentError" in reply["stderr"]


@_only("ruby")
def test_ruby_nil_from_main_is_an_empty_response() -> None:
    with language_worker("ruby", "no_res") as worker:
        worker.hello()
        reply = worker.execute()
        assert (reply["statusCode"], reply["response"], reply["stdout"]) == (
            200,
            "",
            "did nothing\n",
        )


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
def test_deno_status_is_passed_through_and_a_bad_status_throws() -> None:
    with language_worker("deno", "status") as worker:
        worker.hello()
        assert (worker.execute()["statusCode"], worker.execute()["response"]) == (418, "teapot")
        reply = worker.execute("json")
        assert (reply["statusCode"], json.loads(reply["response"])) == (201, {"created": True})
        bad = worker.execute("bad")
        assert bad["statusCode"] == 500
        assert "Invalid status code" in bad["stderr"]


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
    folder = _write(
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
