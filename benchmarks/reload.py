"""Hot reload speed: from saving a function's file to the first execution that runs the new code.

Serves a throw-away copy of sample_functions/ with watching on (`python -m emulator serve`), then,
for hello-python and hello-node, saves a new version of the entrypoint (no dependency change) and
executes the function back to back until the answer is the new one. Prints, per language, the
save -> new answer figures and the save -> active figures the server's own reload lines report.
Run: `.venv/bin/python benchmarks/reload.py [--rounds 20]`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"
TARGETS = {
    "python": (
        "hello-python",
        "functions/hello-python/src/index.py",
        "def main(req, res):\n    return res.json({'round': %d})\n",
    ),
    "node": (
        "hello-node",
        "functions/hello-node/src/index.js",
        "module.exports = async (req, res) => { res.json({ round: %d }); };\n",
    ),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(project: Path, data: Path, log: Path) -> tuple[subprocess.Popen[bytes], httpx.Client]:
    port = free_port()
    argv = [sys.executable, "-m", "emulator", "serve", str(project), "--port", str(port)]
    argv += ["--data-dir", str(data), "--api-key", KEY]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{port}/v1",
        headers={"X-Appwrite-Project": "emulator", "X-Appwrite-Key": KEY},
        timeout=30,
    )
    wait(lambda: http.get("/health/version").status_code == 200, "the server to answer", process)
    return process, http


def wait(probe: object, what: str, process: subprocess.Popen[bytes], cap: float = 120) -> None:
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited while waiting for {what}")
        try:
            if probe():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


def response_of(http: httpx.Client, function_id: str) -> object:
    execution = http.post(f"/functions/{function_id}/executions", json={}).json()
    return json.loads(execution.get("response") or "null")


def bench(
    language: str, http: httpx.Client, project: Path, process: subprocess.Popen[bytes], rounds: int
) -> list[float]:
    function_id, entrypoint, source = TARGETS[language]
    wait(lambda: http.get(f"/functions/{function_id}").json()["deployment"], "a build", process)
    response_of(http, function_id)  # a warm worker, as in a real session
    figures = []
    for n in range(1, rounds + 1):
        marker = int(time.time() * 1000) % 1_000_000 * 100 + n
        path = project / entrypoint
        path.write_text(source % marker)  # the save
        saved = time.perf_counter()
        deadline = saved + 30
        while response_of(http, function_id) != {"round": marker}:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{language}: round {n} never answered with the new code")
        figures.append((time.perf_counter() - saved) * 1000)
        time.sleep(0.3)  # let the old workers stop before the next save
    return figures


def reload_lines(log: Path, function_id: str) -> list[float]:
    """The `active in N ms` figures of the server's reload lines for `function_id`."""
    pattern = re.compile(rf"{re.escape(function_id)}: \S+ changed -> .*active in (\d+) ms")
    return [float(m.group(1)) for m in pattern.finditer(log.read_text(errors="replace"))]


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered):.0f} ms, p90 {p90:.0f} ms, "
        f"min {ordered[0]:.0f} ms, max {ordered[-1]:.0f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    languages = ["python"] + (["node"] if shutil.which("node") and shutil.which("npm") else [])
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="reload-bench-") as tmp:
        project = Path(tmp) / "project"
        shutil.copytree(
            ROOT / "sample_functions",
            project,
            ignore=shutil.ignore_patterns(".appwrite-emulator", "node_modules", "__pycache__"),
        )
        log = Path(tmp) / "server.log"
        process, http = start(project, Path(tmp) / "data", log)
        try:
            for language in languages:
                figures = bench(language, http, project, process, args.rounds)
                active = reload_lines(log, TARGETS[language][0])
                results[language] = {"save_to_new_answer_ms": figures, "save_to_active_ms": active}
                print(f"{language:6} save -> next execution runs the new code: {summary(figures)}")
                if active:
                    print(f"{'':6} save -> active (server's reload lines):     {summary(active)}")
        finally:
            process.terminate()
            process.wait(15)
            http.close()
    print(json.dumps({"rounds": args.rounds, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
