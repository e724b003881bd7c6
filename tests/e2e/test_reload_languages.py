"""Project mode and hot reload for PHP, Ruby and Deno functions: a source change links the cached
dependencies, a manifest change installs them again; and `deploy()` of `emulator.testing` picks
their runtimes from the entrypoint."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.testing import AppwriteEmulator
from tests.e2e.conftest import Server, start_server
from tests.e2e.test_project import sdk, wait_active
from tests.support import wait_for

HAS_COMPOSER = shutil.which("php") is not None and shutil.which("composer") is not None
HAS_BUNDLER = shutil.which("ruby") is not None and shutil.which("bundle") is not None
HAS_DENO = shutil.which("deno") is not None

PHP_FILES = {
    "composer.json": json.dumps(
        {
            "require": {"acme/greeter": "*"},
            "repositories": [
                {"type": "path", "url": "packages/greeter"},
                {"packagist.org": False},
            ],
        }
    ),
    "packages/greeter/composer.json": json.dumps(
        {"name": "acme/greeter", "version": "1.0.0", "autoload": {"files": ["greeter.php"]}}
    ),
    "packages/greeter/greeter.php": "<?php function greeter_hello() { return 'hello'; }\n",
    "index.php": "<?php\nrequire 'vendor/autoload.php';\n"
    "return function ($req, $res) { $res->json(['v' => 1, 'g' => greeter_hello()]); };\n",
}
RUBY_FILES = {
    "Gemfile": "gem 'greeter', path: 'greeter'\n",
    "greeter/greeter.gemspec": "Gem::Specification.new do |s|\n  s.name = 'greeter'\n"
    "  s.version = '1.0.0'\n  s.summary = 'g'\n  s.authors = ['t']\n"
    "  s.files = ['lib/greeter.rb']\nend\n",
    "greeter/lib/greeter.rb": "module Greeter\n  def self.hello = 'hello'\nend\n",
    "index.rb": "require 'greeter'\n\ndef main(req, res)\n"
    "  res.json({ 'v' => 1, 'g' => Greeter.hello })\nend\n",
}
DENO_FILES = {
    "deno.json": json.dumps({"imports": {"greeter": "./lib/greeter.ts"}}),
    "lib/greeter.ts": "export const hello = (): string => 'hello';\n",
    "mod.ts": "import { hello } from 'greeter';\n"
    "export default (req: any, res: any) => res.json({ v: 1, g: hello() });\n",
}
FUNCTIONS = {
    # id: (runtime, entrypoint, files, manifest, available)
    "reload-php": ("php-8.1", "index.php", PHP_FILES, "composer.json", HAS_COMPOSER),
    "reload-ruby": ("ruby-3.1", "index.rb", RUBY_FILES, "Gemfile", HAS_BUNDLER),
    "reload-deno": ("deno-1.24", "mod.ts", DENO_FILES, "deno.json", HAS_DENO),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    root = tmp_path_factory.mktemp("reload-languages")
    folder = root / "project"
    entries = []
    for function_id, (runtime, entrypoint, files, _, available) in FUNCTIONS.items():
        if not available:
            continue
        for name, text in files.items():
            path = folder / "functions" / function_id / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        entries.append(
            {"$id": function_id, "name": function_id, "runtime": runtime}
            | {"path": f"functions/{function_id}", "entrypoint": entrypoint, "execute": ["any"]}
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "appwrite.json").write_text(
        json.dumps({"projectId": "emulator", "functions": entries})
    )
    server = start_server(folder, root / "data", watch=True)
    try:
        yield server, folder
    finally:
        server.stop()


@pytest.mark.parametrize("function_id", list(FUNCTIONS))
def test_a_source_change_reuses_dependencies_and_a_manifest_change_reinstalls(
    project: tuple[Server, Path], function_id: str
) -> None:
    runtime, entrypoint, _, manifest, available = FUNCTIONS[function_id]
    if not available:
        pytest.skip(f"{runtime} cannot install dependencies here")
    server, folder = project
    functions = sdk(server)
    wait_active(functions, function_id)
    first = functions.create_execution(function_id)
    assert json.loads(first["response"]) == {"v": 1, "g": "hello"}, first

    source = folder / "functions" / function_id / entrypoint
    source.write_text(source.read_text().replace("1", "2", 1))  # the first "1" is the version

    def answers(version: int) -> bool:
        response = functions.create_execution(function_id)["response"]
        return bool(response) and json.loads(response).get("v") == version

    wait_for(lambda: answers(2), timeout=60, step=0.1)
    wait_for(
        lambda: (
            f"{function_id}: {entrypoint} changed -> build ready (dependencies from cache)"
            in server.log()
        ),
        timeout=10,
    )

    manifest_path = folder / "functions" / function_id / manifest
    manifest_path.write_text(manifest_path.read_text() + "\n")
    wait_for(
        lambda: (
            f"{function_id}: {manifest} changed -> build ready (dependencies installed)"
            in server.log()
        ),
        timeout=60,
    )
    assert json.loads(functions.create_execution(function_id)["response"])["g"] == "hello"


@pytest.fixture(scope="module")
def emu() -> Iterator[AppwriteEmulator]:
    with AppwriteEmulator() as emulator:
        yield emulator


@pytest.mark.parametrize(
    ("entrypoint", "source", "extra", "runtime", "program"),
    [
        (
            "index.php",
            "<?php return function ($req, $res) { $res->send('php'); };",
            {},
            "php-8.1",
            "php",
        ),
        ("main.rb", "def main(req, res) = res.send('ruby')\n", {}, "ruby-3.1", "ruby"),
        (
            "mod.ts",
            "export default (req: any, res: any) => res.send('deno');",
            {},
            "deno-1.24",
            "deno",
        ),
        (
            "main.js",
            "export default (req, res) => res.send('deno');",
            {"deno.json": "{}"},
            "deno-1.24",
            "deno",
        ),
    ],
)
def test_deploy_picks_the_runtime_from_the_entrypoint(
    emu: AppwriteEmulator,
    tmp_path: Path,
    entrypoint: str,
    source: str,
    extra: dict[str, str],
    runtime: str,
    program: str,
) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is missing")
    (tmp_path / entrypoint).write_text(source)
    for name, text in extra.items():
        (tmp_path / name).write_text(text)
    function_id = f"pick-{program}-{Path(entrypoint).suffix[1:]}"
    emu.deploy(function_id, tmp_path, entrypoint)
    assert emu.functions.get(function_id)["runtime"] == runtime
    assert emu.execute(function_id)["response"] == program
