"""PHP, Ruby and Deno builds through `Executor`, with their dependency managers and offline: a
Composer path repository, a gem from a local path, a Deno module from a local HTTP server; cached by
manifest; a failed install fails the build with the installer's output. (Their warm workers are
covered with the other languages' in test_workers.py.)
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from emulator.catalog import CATALOGUE
from emulator.executor import Executor
from emulator.executor.discovery import LocalRuntime
from emulator.executor.results import BuildResult
from tests.unit.executor.worker_client import BuiltDeployment

pytestmark = pytest.mark.anyio

INTERPRETERS = {
    "php": shutil.which("php"),
    "ruby": shutil.which("ruby"),
    "deno": shutil.which("deno"),
}
RUNTIMES = {"php": "php-8.1", "ruby": "ruby-3.1", "deno": "deno-1.24"}
ENTRYPOINTS = {"php": "index.php", "ruby": "index.rb", "deno": "mod.ts"}


def _language(language: str) -> Any:
    return pytest.param(
        language,
        id=language,
        marks=pytest.mark.skipif(INTERPRETERS[language] is None, reason=f"{language} is missing"),
    )


LANGUAGES = [_language(name) for name in ("php", "ruby", "deno")]


def _runtime(language: str) -> LocalRuntime:
    runtime = next(r for r in CATALOGUE if r.id == RUNTIMES[language])
    interpreter = INTERPRETERS[language]
    assert interpreter is not None
    return LocalRuntime(runtime, language, interpreter)


class Deployment(BuiltDeployment):
    def __init__(self, executor: Executor, language: str, tmp_path: Path) -> None:
        super().__init__(executor, _runtime(language), ENTRYPOINTS[language], tmp_path)
        self.language = language

    async def build(
        self, files: dict[str, str] | None = None, entrypoint: str | None = None
    ) -> BuildResult:
        self.entrypoint = entrypoint or self.entrypoint
        assert files is not None
        return await self.build_files(files)


Factory = Callable[..., Awaitable[Deployment]]


@pytest.fixture
async def deploy(tmp_path: Path) -> AsyncIterator[Factory]:
    executors: list[Executor] = []

    async def make(
        language: str,
        files: dict[str, str] | None = None,
        entrypoint: str | None = None,
        *,
        ok: bool = True,
        **options: Any,
    ) -> Deployment:
        executor = Executor(builds_dir=tmp_path / "builds", cache_dir=tmp_path / "cache", **options)
        await executor.start()
        executors.append(executor)
        deployment = Deployment(executor, language, tmp_path)
        result = await deployment.build(files, entrypoint)
        assert result.ok is ok, result
        deployment.result = result  # type: ignore[attr-defined]
        return deployment

    yield make
    for executor in executors:
        await executor.close()


# -- builds ----------------------------------------------------------------------------------------


@pytest.fixture
def module_server(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server (127.0.0.1) serving Deno modules; its base URL."""
    root = tmp_path / "served"
    root.mkdir()
    (root / "greet.ts").write_text(
        "export function greet(name: string): string { return `Hi ${name} from a module`; }\n"
    )

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map: ClassVar[dict[str, str]] = {
            ".ts": "application/typescript",
            ".js": "application/javascript",
        }

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


COMPOSER_PROJECT = {
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
        {
            "name": "acme/greeter",
            "version": "1.0.0",
            "autoload": {"psr-4": {"Acme\\Greeter\\": "src/"}},
        }
    ),
    "packages/greeter/src/Greeter.php": """
        <?php
        namespace Acme\\Greeter;

        final class Greeter {
            public static function hello(string $name): string { return "Hello $name from a package"; }
        }
        """,
    "index.php": """
        <?php
        require 'vendor/autoload.php';

        return function ($req, $res) {
            $res->send(\\Acme\\Greeter\\Greeter::hello($req['payload']));
        };
        """,
}

GEM_PROJECT = {
    "Gemfile": "gem 'greeter', path: 'vendor/greeter'\n",
    "vendor/greeter/greeter.gemspec": """
        Gem::Specification.new do |spec|
          spec.name = 'greeter'
          spec.version = '1.0.0'
          spec.summary = 'Greets'
          spec.authors = ['Test']
          spec.files = ['lib/greeter.rb']
        end
        """,
    "vendor/greeter/lib/greeter.rb": """
        module Greeter
          def self.hello(name)
            "Hello #{name} from a gem"
          end
        end
        """,
    "index.rb": """
        require 'greeter'

        def main(req, res)
          res.send(Greeter.hello(req.payload))
        end
        """,
}


@pytest.mark.skipif(shutil.which("composer") is None, reason="composer is missing")
@pytest.mark.parametrize("language", [_language("php")])
async def test_php_composer_dependencies_from_a_path_repository(
    deploy: Factory, language: str, tmp_path: Path
) -> None:
    deployment = await deploy("php", COMPOSER_PROJECT)
    assert "Installing acme/greeter" in deployment.result.stdout + deployment.result.stderr
    result = await deployment.execute("Ada")
    assert (result.status_code, result.response) == (200, "Hello Ada from a package"), result
    # The same composer.json again: the installed vendor folder comes from the cache.
    again = Deployment(deployment.executor, "php", tmp_path)
    rebuilt = await again.build(COMPOSER_PROJECT)
    assert rebuilt.ok and rebuilt.stdout.startswith("Reusing cached dependencies (composer.json")
    assert (await again.execute("Grace")).response == "Hello Grace from a package"


@pytest.mark.parametrize("language", [_language("php")])
async def test_php_vendor_autoload_is_there_without_composer_json(
    deploy: Factory, language: str
) -> None:
    files = {
        "src/index.php": """
            <?php
            require 'vendor/autoload.php';
            require_once __DIR__ . '/../vendor/autoload.php';

            return function ($req, $res) { $res->send('autoloaded'); };
            """
    }
    deployment = await deploy("php", files, "src/index.php")
    assert (await deployment.execute()).response == "autoloaded"


@pytest.mark.skipif(shutil.which("composer") is None, reason="composer is missing")
@pytest.mark.parametrize("language", [_language("php")])
async def test_php_a_composer_json_without_dependencies_works(
    deploy: Factory, language: str
) -> None:
    files = {
        "composer.json": '{"autoload": {"psr-4": {"App\\\\": "lib/"}}}',
        "lib/Greeting.php": "<?php namespace App; class Greeting { const TEXT = 'hi'; }",
        "index.php": """
            <?php
            require __DIR__ . '/vendor/autoload.php';
            return function ($req, $res) { $res->send(\\App\\Greeting::TEXT); };
            """,
    }
    deployment = await deploy("php", files)
    assert (await deployment.execute()).response == "hi"


@pytest.mark.skipif(shutil.which("composer") is None, reason="composer is missing")
@pytest.mark.parametrize("language", [_language("php")])
async def test_php_a_failed_composer_install_fails_the_build_with_its_output(
    deploy: Factory, language: str
) -> None:
    files = {
        "composer.json": json.dumps(
            {"require": {"acme/missing": "^9"}, "repositories": [{"packagist.org": False}]}
        ),
        "index.php": "<?php return function ($req, $res) {};",
    }
    deployment = await deploy("php", files, ok=False)
    stderr = deployment.result.stderr
    assert "Installing dependencies failed: `composer install --no-dev` exited" in stderr
    assert "acme/missing" in stderr


@pytest.mark.skipif(shutil.which("bundle") is None, reason="bundler is missing")
@pytest.mark.parametrize("language", [_language("ruby")])
async def test_ruby_gems_from_the_gemfile_are_loaded(
    deploy: Factory, language: str, tmp_path: Path
) -> None:
    deployment = await deploy("ruby", GEM_PROJECT)
    result = await deployment.execute("Ada")
    assert (result.status_code, result.response) == (200, "Hello Ada from a gem"), result
    again = Deployment(deployment.executor, "ruby", tmp_path)
    rebuilt = await again.build(GEM_PROJECT)
    assert rebuilt.ok and rebuilt.stdout.startswith("Reusing cached dependencies (Gemfile")
    assert (await again.execute("Grace")).response == "Hello Grace from a gem"


@pytest.mark.skipif(shutil.which("bundle") is None, reason="bundler is missing")
@pytest.mark.parametrize("language", [_language("ruby")])
async def test_ruby_a_failed_bundle_install_fails_the_build_with_its_output(
    deploy: Factory, language: str
) -> None:
    files = {
        "Gemfile": "gem 'missing-gem', path: 'nowhere'\n",
        "index.rb": "def main(req, res) = 'x'\n",
    }
    deployment = await deploy("ruby", files, ok=False)
    stderr = deployment.result.stderr
    assert "Installing dependencies failed: `bundle install` exited" in stderr
    assert "nowhere" in stderr


@pytest.mark.parametrize("language", [_language("deno")])
async def test_deno_remote_imports_are_cached_at_build_time(
    deploy: Factory, language: str, module_server: str, tmp_path: Path
) -> None:
    files = {
        "mod.ts": f"""
            import {{ greet }} from "{module_server}/greet.ts";

            export default (req: any, res: any) => res.send(greet(req.payload));
            """
    }
    deployment = await deploy("deno", files)
    result = await deployment.execute("Ada")
    assert (result.status_code, result.response) == (200, "Hi Ada from a module"), result
    # The module is in the build: executions (and the next build) never fetch it again.
    (tmp_path / "served" / "greet.ts").unlink()
    await deployment.executor.stop_deployment(deployment.deployment_id)
    deployment.executor.resume_deployment(deployment.deployment_id)
    assert (await deployment.execute("Bo")).response == "Hi Bo from a module"
    again = Deployment(deployment.executor, "deno", tmp_path)
    rebuilt = await again.build(files)
    assert rebuilt.ok, rebuilt
    assert rebuilt.stdout.startswith("Reusing cached dependencies (Deno modules")
    assert (await again.execute("Grace")).response == "Hi Grace from a module"


@pytest.mark.parametrize("language", [_language("deno")])
async def test_deno_a_failed_cache_fails_the_build_with_its_output(
    deploy: Factory, language: str, module_server: str
) -> None:
    files = {"mod.ts": f'import "{module_server}/missing.ts";\nexport default () => {{}};\n'}
    deployment = await deploy("deno", files, ok=False)
    stderr = deployment.result.stderr
    assert "Installing dependencies failed: `deno cache mod.ts` exited" in stderr
    assert "missing.ts" in stderr
