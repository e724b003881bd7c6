"""The emulator installed the way users install it: a wheel in a fresh virtualenv, and the one-file
binary. Both are built from this checkout; the wheel's dependencies come from `build/wheelhouse`
(`make wheelhouse`), so installing needs no index.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "install-test-key"
PROJECT_ID = "emulator"  # the default without an appwrite.json

# Left out of the copy the wheel is built from: build output (setuptools would reuse a stale
# build/lib), virtualenvs, .git and caches at the top; installed or generated files anywhere.
_BUILD_OUTPUT = {"build", "dist"}
_NEVER_COPIED = shutil.ignore_patterns(
    "node_modules", "__pycache__", "*.egg-info", ".appwrite-emulator"
)


def run(
    argv: list[str | Path], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a set-up step; fail the test with its output when it fails."""
    args = [str(a) for a in argv]
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited with {done.returncode}:\n{done.stdout}{done.stderr}")
    return done


def make(target: str) -> None:
    """`make TARGET` in the checkout: builds it when it is older than its sources, else nothing."""
    if shutil.which("make") is None:
        pytest.fail("make is needed to build the wheelhouse and the binary")
    run(["make", "--no-print-directory", target], cwd=ROOT)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would point Python at the checkout."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return {**env, **extra}


def _copy_ignore(folder: str, names: list[str]) -> set[str]:
    ignored = set(_NEVER_COPIED(folder, names))
    if Path(folder) == ROOT:
        ignored |= {n for n in names if n.startswith(".") or n in _BUILD_OUTPUT}
    return ignored


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    make("wheelhouse")
    return ROOT / "build" / "wheelhouse"


@pytest.fixture(scope="session")
def wheel_command(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """`appwrite-emulator` of a fresh virtualenv where the wheel built from this checkout is
    installed (not editable). The wheel is built from a copy of the sources, so nothing a previous
    build left in the checkout can end up in it."""
    base = tmp_path_factory.mktemp("wheel")
    source, wheels, venv = base / "source", base / "wheels", base / "venv"
    shutil.copytree(ROOT, source, ignore=_copy_ignore)
    offline = ["--no-index", "--find-links", wheelhouse]
    env = clean_env()
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *offline, "-w", wheels, source], env=env
    )
    (wheel,) = wheels.glob("appwrite_emulator-*.whl")
    run([sys.executable, "-m", "venv", venv], env=env)
    run([venv / "bin" / "python", "-m", "pip", "install", *offline, wheel], env=env, cwd=base)
    where = run(
        [venv / "bin" / "python", "-c", "import emulator; print(emulator.__file__)"],
        env=env,
        cwd=base,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), f"emulator imported from {where}, not the virtualenv"
    return venv / "bin" / "appwrite-emulator"


@pytest.fixture(scope="session")
def binary_command() -> Path:
    """`dist/appwrite-emulator`, built with `make binary` unless it is newer than its sources."""
    make("binary")
    return ROOT / "dist" / "appwrite-emulator"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """An emulator process serving a project folder, and a client with the API key."""

    process: subprocess.Popen[str]
    client: httpx.Client
    tmpdir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, as a service manager or `kill` sends it; the exit code."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"the emulator did not stop on SIGTERM:\n{self.log()}")
        return self.process.returncode


def serve(command: Path, folder: Path, *extra: str) -> Served:
    """Start `command serve` on a free port in a new project folder under `folder`, in a session
    (and process group) of its own; wait until it answers. TMPDIR is a folder of its own, so what
    the process leaves there can be seen."""
    project, tmpdir = folder / "project", folder / "tmp"
    project.mkdir()
    tmpdir.mkdir()
    port = free_port()
    log_path = folder / "server.log"
    argv = [command, "serve", project, "--port", port, "--api-key", API_KEY, "--no-watch", *extra]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(a) for a in argv],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=clean_env(TMPDIR=str(tmpdir)),
            start_new_session=True,
        )
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}/v1",
        headers={"X-Appwrite-Project": PROJECT_ID, "X-Appwrite-Key": API_KEY},
        timeout=30,
    )
    served = Served(process, client, tmpdir, log_path)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"{command} exited with {process.returncode}:\n{served.log()}")
        try:
            if client.get("/health/version").status_code == 200:
                return served
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            served.stop()
            pytest.fail(f"{command} did not answer within 30 s:\n{served.log()}")
        time.sleep(0.05)


@pytest.fixture(scope="module", params=["wheel", "binary"])
def emulator_command(request: pytest.FixtureRequest) -> Path:
    """The installed `appwrite-emulator`: from the wheel, then the binary."""
    command: Path = request.getfixturevalue(f"{request.param}_command")
    return command


@pytest.fixture(scope="module")
def served(emulator_command: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = serve(emulator_command, tmp_path_factory.mktemp("served"))
    try:
        yield server
    finally:
        server.stop()
