"""The worker protocol's wire format (`emulator.executor.protocol`), pinned byte for byte.

Every adapter in runtimes/ reads these requests and writes these replies; test_adapters.py
checks that each real adapter's replies decode as pinned here.
"""

from __future__ import annotations

import json

import pytest

from emulator.executor.protocol import (
    LOAD_ERROR_TEXT,
    MAX_REPLY_LINE,
    REPLY_FD,
    Execute,
    LoadError,
    ProtocolError,
    Ready,
    ReplyReader,
    Result,
    Unknown,
    decode_reply,
    worker_arguments,
)
from emulator.executor.results import OUTPUT_LIMIT

BREAK_TAIL = ". It was stopped; the function may have written to the worker's reply descriptor."

# -- what the executor sends ------------------------------------------------------------------------


def test_an_execute_request_is_one_json_line() -> None:
    request = Execute(
        id="e1", payload='{"a": 1}', variables={"K": "V", "Ü": "ê"}, headers={"x-test": "1"}
    )
    assert request.encode() == (
        b'{"type": "execute", "id": "e1", "payload": "{\\"a\\": 1}", '
        b'"variables": {"K": "V", "\\u00dc": "\\u00ea"}, "headers": {"x-test": "1"}}\n'
    )


def test_headers_default_to_an_empty_object() -> None:
    line = Execute(id="", payload="", variables={}).encode()
    assert line == b'{"type": "execute", "id": "", "payload": "", "variables": {}, "headers": {}}\n'
    assert line.count(b"\n") == 1


def test_a_payload_with_newlines_stays_on_one_line() -> None:
    line = Execute(id="e2", payload="one\ntwo\r\n", variables={}).encode()
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert json.loads(line)["payload"] == "one\ntwo\r\n"


def test_the_worker_command_line() -> None:
    assert worker_arguments(code_dir="/b/code", entrypoint="src/main.py") == [
        "--code-dir",
        "/b/code",
        "--entrypoint",
        "src/main.py",
    ]
    assert worker_arguments(code_dir="/c", entrypoint="m.py", deps_dir="/d", reply_fd=7) == [
        "--code-dir",
        "/c",
        "--entrypoint",
        "m.py",
        "--deps-dir",
        "/d",
        "--reply-fd",
        "7",
    ]
    assert REPLY_FD == 3


# -- what a worker answers --------------------------------------------------------------------------


def test_the_hello_lines() -> None:
    assert decode_reply(b'{"type": "ready"}') == Ready()
    assert decode_reply(b'{"type":"load_error","stderr":"SyntaxError: x\\n"}') == LoadError(
        "SyntaxError: x\n"
    )
    assert decode_reply(b'{"type": "load_error"}') == LoadError(LOAD_ERROR_TEXT)
    assert decode_reply(b'{"type": "load_error", "stderr": ""}') == LoadError(LOAD_ERROR_TEXT)


def test_a_result_line() -> None:
    line = (
        '{"type": "result", "id": "e1", "statusCode": 201, "response": "{\\"ok\\":true}", '
        '"stdout": "hé\\n", "stderr": ""}'
    ).encode()
    assert decode_reply(line) == Result("e1", 201, '{"ok":true}', "hé\n", "")


def test_a_result_as_the_adapters_write_it_with_raw_unicode() -> None:
    line = json.dumps(
        {
            "type": "result",
            "id": "e1",
            "statusCode": 200,
            "response": "ê😀",
            "stdout": "",
            "stderr": "",
        },
        ensure_ascii=False,
    ).encode()
    assert decode_reply(line) == Result("e1", 200, "ê😀", "", "")


def test_a_result_without_an_id_answers_the_pending_request() -> None:
    assert decode_reply(b'{"type": "result", "statusCode": 200}') == Result(None, 200, "", "", "")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"statusCode": "200"}, Result("e", 500, "", "", "")),
        ({"statusCode": True}, Result("e", 500, "", "", "")),
        ({"statusCode": 404.0}, Result("e", 500, "", "", "")),
        ({"statusCode": 302, "response": {"a": 1}}, Result("e", 302, '{"a": 1}', "", "")),
        ({"stdout": None, "stderr": 5}, Result("e", 500, "", "null", "5")),
    ],
    ids=["status-text", "status-bool", "status-float", "object-response", "other-texts"],
)
def test_odd_result_fields_are_made_usable_not_a_break(
    fields: dict[str, object], expected: Result
) -> None:
    line = json.dumps({"type": "result", "id": "e", **fields}).encode()
    assert decode_reply(line) == expected


def test_result_texts_are_cut_to_the_output_limit() -> None:
    big = "é" * OUTPUT_LIMIT  # twice the limit in UTF-8
    line = json.dumps(
        {"type": "result", "id": "e", "statusCode": 200, "response": big, "stdout": big}
    ).encode()
    reply = decode_reply(line)
    assert isinstance(reply, Result)
    assert reply.response == reply.stdout == "é" * (OUTPUT_LIMIT // 2)


@pytest.mark.parametrize(
    "line",
    [
        b'{"type": "progress", "id": "e1"}',
        b'{"id": "e1", "statusCode": 200}',
        b'{"type": "result", "id": 7, "statusCode": 200}',
        b'{"type": "result", "id": null, "statusCode": 200}',
    ],
    ids=["unknown-type", "no-type", "number-id", "null-id"],
)
def test_objects_the_protocol_does_not_define_are_unknown(line: bytes) -> None:
    assert decode_reply(line) == Unknown(line)


@pytest.mark.parametrize(
    ("line", "what"),
    [
        (b"junk", "an unreadable reply line (b'junk')"),
        (b'["result"]', "an unreadable reply line (b'[\"result\"]')"),
        (b'"ready"', "an unreadable reply line (b'\"ready\"')"),
        (b"", "an unreadable reply line (b'')"),
        (b'{"type": "ready"', 'an unreadable reply line (b\'{"type": "ready"\')'),
    ],
    ids=["text", "array", "string", "empty", "cut"],
)
def test_a_line_that_is_not_a_json_object_breaks_the_protocol(line: bytes, what: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_reply(line)
    assert caught.value.what == what
    assert str(caught.value) == f"The worker broke the protocol: {what}{BREAK_TAIL}"


def test_the_reason_names_at_most_200_bytes_of_the_line() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_reply(b"x" * 1000)
    assert caught.value.what == f"an unreadable reply line ({b'x' * 200!r})"


# -- reading the reply descriptor -------------------------------------------------------------------


def test_replies_are_cut_at_newlines_whatever_the_chunks() -> None:
    stream = b'{"type": "ready"}\n{"type": "result", "id": "e1", "statusCode": 200}\n'
    for size in (1, 2, 7, len(stream)):
        reader = ReplyReader()
        replies = [
            reply
            for start in range(0, len(stream), size)
            for reply in reader.feed(stream[start : start + size])
        ]
        assert replies == [Ready(), Result("e1", 200, "", "", "")], size


def test_replies_before_a_break_are_delivered_and_nothing_after_it() -> None:
    reader = ReplyReader()
    replies = reader.feed(b'{"type": "ready"}\njunk\n{"type": "ready"}\n')
    assert next(replies) == Ready()
    with pytest.raises(ProtocolError, match=r"unreadable reply line \(b'junk'\)"):
        next(replies)
    assert reader.broken
    assert list(reader.feed(b'{"type": "result", "id": "e1", "statusCode": 200}\n')) == []


def test_a_line_longer_than_the_limit_breaks_the_protocol_before_its_end() -> None:
    reader = ReplyReader(max_line=10)
    assert list(reader.feed(b'{"type":"ready"}'[:10])) == []  # exactly the limit: still waiting
    with pytest.raises(ProtocolError) as caught:
        list(reader.feed(b"x"))
    assert caught.value.what == "a reply line longer than 10 bytes"
    assert reader.broken


def test_a_line_of_exactly_the_limit_is_read() -> None:
    line = b'{"type": "ready", "pad": "' + b"x" * 20 + b'"}'
    reader = ReplyReader(max_line=len(line))
    assert list(reader.feed(line + b"\n")) == [Ready()]


def test_the_real_limit_holds_three_fully_escaped_texts() -> None:
    # Every byte of response, stdout and stderr a control character: six bytes each in JSON.
    text = "\x01" * OUTPUT_LIMIT
    fields = {"response": text, "stdout": text, "stderr": text}
    line = json.dumps({"type": "result", "id": "e1", "statusCode": 200, **fields}).encode()
    assert len(line) <= MAX_REPLY_LINE
    (reply,) = ReplyReader().feed(line + b"\n")
    assert reply == Result("e1", 200, text, text, text)
    reader = ReplyReader()
    with pytest.raises(ProtocolError) as caught:
        list(reader.feed(b"x" * (MAX_REPLY_LINE + 1)))
    assert caught.value.what == f"a reply line longer than {MAX_REPLY_LINE:,} bytes"
    assert caught.value.what == "a reply line longer than 19,048,576 bytes"


def test_lone_surrogates_in_a_result_become_replacement_characters() -> None:
    """JSON can carry a lone UTF-16 surrogate (Node's `'😀'.slice(0, 1)`); UTF-8 cannot, so the
    execution could not be stored. They arrive as U+FFFD instead."""
    line = b'{"type": "result", "id": "e1", "statusCode": 200, "response": "\\ud83d!", '
    line += b'"stdout": "\\udc00", "stderr": "ok \\ud83d\\ude00"}'
    result = decode_reply(line)
    assert isinstance(result, Result)
    assert (result.response, result.stdout) == ("\ufffd!", "\ufffd")
    assert result.stderr == "ok \U0001f600"  # a proper pair stays one character
    result.response.encode("utf-8")
