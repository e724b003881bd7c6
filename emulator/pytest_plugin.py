"""The pytest plugin (registered by the `pytest11` entry point): a session-scoped
`appwrite_emulator` fixture, isolated for each test that uses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from emulator.config import PROJECT_ENV, RESET_ENV, env_option

if TYPE_CHECKING:  # imported when first used: loading the plugin stays cheap for every pytest run
    from emulator.testing import AppwriteEmulator

RESET_MODES = ("snapshot", "executions", "full", "none")
"""How each test that uses `appwrite_emulator` is isolated: the project is put back after the test
as it was before it (the default); the executions are deleted before it; the project is emptied
before it; nothing."""
DEFAULT_MODE = RESET_MODES[0]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("appwrite-emulator", "Appwrite Functions emulator")
    group.addoption(
        "--appwrite-project",
        metavar="DIR",
        help=f"serve this project folder (appwrite.json) for the session [env {PROJECT_ENV}]",
    )
    group.addoption(
        "--appwrite-reset",
        choices=RESET_MODES,
        help="isolation of each test using appwrite_emulator "
        f"(default: {DEFAULT_MODE}) [env {RESET_ENV}]",
    )
    group.addoption(
        "--appwrite-debug",
        metavar="FUNCTION_ID[:PORT],...",
        help="run these functions under a debugger (see the README's 'Debugging a function')",
    )
    parser.addini(
        "appwrite_emulator_project", "project folder to serve, relative to the ini file", default=""
    )
    parser.addini("appwrite_emulator_reset", " | ".join(RESET_MODES), default=DEFAULT_MODE)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "appwrite_emulator(reset='snapshot'|'executions'|'full'|'none'): "
        "how to isolate this test in the Appwrite emulator",
    )


def _project_dir(config: pytest.Config) -> Path | None:
    option = config.getoption("appwrite_project")
    if option:
        return Path(option).resolve()
    env = env_option(PROJECT_ENV)
    if env:
        return Path(env).resolve()
    ini = str(config.getini("appwrite_emulator_project"))
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return (base / ini).resolve()
    return None


def _reset_mode(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker("appwrite_emulator")
    mode = (
        (marker.kwargs.get("reset") if marker else None)
        or request.config.getoption("appwrite_reset")
        or env_option(RESET_ENV)
        or str(request.config.getini("appwrite_emulator_reset"))
    )
    if mode not in RESET_MODES:
        raise pytest.UsageError(f"appwrite_emulator reset must be one of {RESET_MODES}: {mode!r}")
    return str(mode)


@pytest.fixture(scope="session")
def appwrite_emulator(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppwriteEmulator]:
    """A real Appwrite Functions emulator for the whole session (see emulator.testing)."""
    from emulator.testing import AppwriteEmulator

    emulator = AppwriteEmulator(
        _project_dir(pytestconfig),
        data_dir=tmp_path_factory.mktemp("appwrite-emulator"),
        debug=pytestconfig.getoption("appwrite_debug") or (),
    )
    with emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _appwrite_emulator_reset(request: pytest.FixtureRequest) -> Iterator[None]:
    """Around a test that uses `appwrite_emulator` (even through other fixtures): its isolation.

    Fixtures of a wider scope are set up before this one, so what they deploy is part of the
    snapshot; the restore runs after the test's own function-scoped fixtures are torn down.
    """
    if "appwrite_emulator" not in request.fixturenames:
        yield
        return
    mode = _reset_mode(request)
    emulator: AppwriteEmulator = request.getfixturevalue("appwrite_emulator")
    if mode == "snapshot":
        emulator.snapshot()
        yield
        emulator.restore()
        return
    if mode != "none":
        emulator.reset(keep_functions=mode == "executions")
    yield
