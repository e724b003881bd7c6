"""The console's executions table with 10,000 executions stored: how long it takes to open, in a
real browser (Debian's Chromium through Playwright), on localhost. Target: < 300 ms.

Fills a throw-away data dir with one deployed function and N finished executions (written through
the emulator's own store), serves it with `emulator.testing.AppwriteEmulator`, then measures, three
runs each:
  - navigate: from the function's Deployments tab to its Executions tab (the in-page route change),
    until the first page of rows is on screen;
  - page load: loading /console#/functions/ID/executions from nothing (scripts included), until
    the rows are on screen;
  - the API call the table makes (list, limit 25, newest first), for reference.
The page reads one page of 25 at a time (cursor paging); it never loads all executions.
Run: `.venv/bin/python benchmarks/console.py [--executions 10000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from emulator.dates import utc_now
from emulator.ids import unique_id
from emulator.models import Execution
from emulator.store.db import Database
from emulator.store.executions import ExecutionStore
from emulator.testing import AppwriteEmulator

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY = "bench-key"
FUNCTION = "bench"
ROWS = "#executions tbody tr"
WAIT_FOR_ROWS = """async (selector) => {
    while (document.querySelectorAll(selector).length < 25) {
      await new Promise((resolve) => requestAnimationFrame(resolve));
    }
    return performance.now();
}"""


async def fill(data_dir: Path, deployment_id: str, count: int) -> None:
    db = await Database.open(data_dir / "emulator.sqlite3")
    store = ExecutionStore(db)
    start = utc_now() - timedelta(seconds=count)
    try:
        for i in range(count):
            created = start + timedelta(seconds=i)
            await store.insert(
                Execution(
                    id=unique_id(),
                    function_id=FUNCTION,
                    deployment_id=deployment_id,
                    trigger=("http", "schedule", "event")[i % 3],
                    status="failed" if i % 10 == 0 else "completed",
                    created_at=created,
                    updated_at=created,
                    status_code=500 if i % 10 == 0 else 200,
                    response=f'{{"ok": true, "index": {i}}}',
                    stdout=f"line {i}\n",
                    duration=0.004,
                )
            )
    finally:
        await db.close()


def prepare(data_dir: Path, count: int) -> None:
    folder = data_dir.parent / "fn"
    folder.mkdir()
    (folder / "main.py").write_text("def main(req, res):\n    res.json({'ok': True})\n")
    with AppwriteEmulator(data_dir=data_dir, api_key=KEY) as emu:
        deployment = emu.deploy(FUNCTION, folder, "main.py", runtime="python-3.9")
    started = time.perf_counter()
    asyncio.run(fill(data_dir, deployment["$id"], count))
    print(f"stored {count:,} executions in {time.perf_counter() - started:.1f} s")


def report(name: str, figures: list[float]) -> None:
    shown = ", ".join(f"{f:.0f}" for f in figures)
    print(f"{name:<34} runs: {shown} ms   median {statistics.median(figures):.0f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("playwright is not installed: pip install -e '.[test]'", file=sys.stderr)
        return 1
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not found: apt-get install chromium", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        prepare(data_dir, args.executions)
        with AppwriteEmulator(data_dir=data_dir, api_key=KEY) as emu, sync_playwright() as pw:
            base = emu.endpoint.removesuffix("/v1")
            total = emu.request("GET", f"/functions/{FUNCTION}/executions")["total"]
            print(
                f"executions of {FUNCTION!r} the API counts: {total:,} (1.3 caps totals at 5,000)"
            )
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            api_ms, navigate_ms, load_ms = [], [], []
            headers = {"X-Appwrite-Project": emu.project_id, "X-Appwrite-Key": KEY}
            params = [("queries[]", "limit(25)"), ("queries[]", 'orderDesc("")')]
            url = f"{emu.endpoint}/functions/{FUNCTION}/executions"
            with httpx.Client(headers=headers) as client:
                client.get(url, params=params)  # warm
                for _ in range(args.runs):
                    started = time.perf_counter()
                    client.get(url, params=params).raise_for_status()
                    api_ms.append((time.perf_counter() - started) * 1000)
            for _ in range(args.runs):
                page.goto(f"{base}/console#/functions/{FUNCTION}/deployments")
                page.wait_for_selector("tr[data-deployment-id]")
                started = page.evaluate(
                    "(fn) => { const t = performance.now(); location.hash = `#/functions/${fn}/executions`; return t; }",
                    FUNCTION,
                )
                navigate_ms.append(page.evaluate(WAIT_FOR_ROWS, ROWS) - started)
            for _ in range(args.runs):
                page.goto("about:blank")
                page.goto(f"{base}/console#/functions/{FUNCTION}/executions", wait_until="commit")
                # Milliseconds since the navigation started, when the 25th row is on screen.
                load_ms.append(page.evaluate(WAIT_FOR_ROWS, ROWS))
            rows = page.locator(ROWS).count()
            browser.close()
    print(f"rows on screen: {rows} (one page; the rest is read page by page)")
    report("API list (limit 25, newest first)", api_ms)
    report("open the Executions tab", navigate_ms)
    report("load the page onto that tab", load_ms)
    print("target: < 300 ms to open the table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
