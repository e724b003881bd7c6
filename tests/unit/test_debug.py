"""`--debug`'s value, the ports functions get, and what the banner says about them."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.cli import _parser, banner
from emulator.config import DebugTarget, build_settings, parse_debug
from emulator.executor.debug import describe, port_for


def test_ids_and_ports_are_read_from_the_flag() -> None:
    assert parse_debug("api, jobs:9300,") == (DebugTarget("api"), DebugTarget("jobs", 9300))
    assert parse_debug(["api", DebugTarget("jobs", 1)]) == (
        DebugTarget("api"),
        DebugTarget("jobs", 1),
    )
    assert parse_debug(None) == parse_debug("") == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (":9229", "':9229' names no function (FUNCTION_ID[:PORT])"),
        ("api:0", "'api:0': the port must be a number from 1 to 65535"),
        ("api:65536", "'api:65536': the port must be a number from 1 to 65535"),
        ("api:http", "'api:http': the port must be a number from 1 to 65535"),
        ("api,api:9300", "the function api is listed twice"),
        ("api:9300,jobs:9300", "the port 9300 is listed twice"),
    ],
)
def test_a_bad_value_says_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_debug(value)
    assert str(raised.value) == message


def test_the_settings_take_the_flag_or_a_list(tmp_path: Path) -> None:
    settings = build_settings(tmp_path, api_key="k", debug="api,jobs:9300")
    assert settings.debug == (DebugTarget("api"), DebugTarget("jobs", 9300))
    assert settings.debugged("jobs") and not settings.debugged("other")
    assert build_settings(tmp_path, api_key="k", debug=["api"]).debug == (DebugTarget("api"),)
    assert build_settings(tmp_path, api_key="k").debug == ()


def test_the_nth_function_listed_gets_the_default_port_plus_n_minus_1() -> None:
    targets = parse_debug("api,jobs:9300,mail")
    assert port_for(targets, "api", "node") == 9229
    assert port_for(targets, "api", "python") == 5678
    assert port_for(targets, "jobs", "node") == port_for(targets, "jobs", "python") == 9300
    assert port_for(targets, "mail", "node") == 9231
    assert port_for(targets, "mail", "python") == 5680
    assert port_for(targets, "other", "node") is None
    assert port_for(targets, "api", "ruby") is port_for(targets, "jobs", "ruby") is None


def test_where_to_attach_names_the_address_and_the_debugger() -> None:
    targets = parse_debug("api,jobs")
    assert describe(targets, "api", "node") == "127.0.0.1:9229 (Node inspector)"
    assert describe(targets, "jobs", "python") == "127.0.0.1:5679 (debugpy)"
    assert describe(targets, "jobs", None) == (
        "127.0.0.1:9230 if it is a Node function or 127.0.0.1:5679 if it is a Python function "
        "(the function does not exist yet)"
    )
    assert describe(targets, "api", "ruby") == (
        "not available: ruby functions cannot run under a debugger here"
    )


def test_the_banner_lists_the_debugged_functions_before_the_last_line(tmp_path: Path) -> None:
    settings = build_settings(tmp_path, api_key="k", port=8800)
    lines = banner(settings, ["api -> 127.0.0.1:9229 (Node inspector)", "jobs -> x"]).splitlines()
    assert lines[-3:] == [
        "  Debugging:  api -> 127.0.0.1:9229 (Node inspector)",
        "              jobs -> x",
        "Press Ctrl-C to stop.",
    ]
    assert "Debugging" not in banner(settings)


def test_the_flag_can_be_repeated() -> None:
    args = _parser().parse_args(["serve", "--debug", "api", "--debug", "jobs:9300"])
    assert parse_debug(",".join(args.debug)) == (DebugTarget("api"), DebugTarget("jobs", 9300))
