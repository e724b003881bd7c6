"""Appwrite 1.3's runtime catalogue (pure data): every runtime 1.3 knows, in its declaration order.

Which of them this machine can run is the executor's question (`emulator.executor.discovery`).
"""

from __future__ import annotations

from emulator.models import Runtime

BOTH = ("x86", "arm")

# (key, name, version, base, image tag, supports), in php-runtimes 0.11.1 declaration order.
_CATALOGUE: tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...] = (
    ("node", "Node.js", "14.5", "node:14.5-alpine", "14.5", BOTH),
    ("node", "Node.js", "16.0", "node:16-alpine", "16.0", BOTH),
    ("node", "Node.js", "18.0", "node:18-alpine", "18.0", BOTH),
    ("php", "PHP", "8.0", "php:8.0-cli-alpine", "8.0", BOTH),
    ("php", "PHP", "8.1", "php:8.1-cli-alpine", "8.1", BOTH),
    ("ruby", "Ruby", "3.0", "ruby:3.0-alpine", "3.0", BOTH),
    ("ruby", "Ruby", "3.1", "ruby:3.1-alpine", "3.1", BOTH),
    ("python", "Python", "3.8", "python:3.8-alpine", "3.8", BOTH),
    ("python", "Python", "3.9", "python:3.9-alpine", "3.9", BOTH),
    ("python", "Python", "3.10", "python:3.10-alpine", "3.10", BOTH),
    ("deno", "Deno", "1.21", "denoland/deno:alpine-1.21.3", "1.21", ("x86",)),
    ("deno", "Deno", "1.24", "denoland/deno:alpine-1.24.3", "1.24", ("x86",)),
    ("dart", "Dart", "2.15", "dart:2.15", "2.15", BOTH),
    ("dart", "Dart", "2.16", "dart:2.16", "2.16", BOTH),
    ("dart", "Dart", "2.17", "dart:2.17", "2.17", BOTH),
    ("dotnet", ".NET", "3.1", "mcr.microsoft.com/dotnet/sdk:3.1", "3.1", BOTH),
    ("dotnet", ".NET", "6.0", "mcr.microsoft.com/dotnet/sdk:6.0-alpine", "6.0", BOTH),
    ("java", "Java", "8.0", "openjdk/8-jdk-slim", "8.0", BOTH),
    ("java", "Java", "11.0", "openjdk/11-jdk-slim", "11.0", BOTH),
    ("java", "Java", "17.0", "openjdk/17-jdk-slim", "17.0", BOTH),
    ("java", "Java", "18.0", "openjdk/18-jdk-slim", "18.0", BOTH),
    ("swift", "Swift", "5.5", "swiftarm/swift:5.5.2-focal-multi-arch", "5.5", BOTH),
    ("kotlin", "Kotlin", "1.6", "openjdk/17-jdk-slim", "1.6", BOTH),
    ("cpp", "C++", "17.0", "alpine:3.15", "17", BOTH),
)

CATALOGUE: tuple[Runtime, ...] = tuple(
    Runtime(
        id=f"{key}-{version}",
        name=name,
        version=version,
        base=base,
        image=f"openruntimes/{key}:v2-{tag}",
        logo=f"{key}.png",
        supports=supports,
    )
    for key, name, version, base, tag, supports in _CATALOGUE
)


def language_of(runtime_id: str) -> str:
    """The language key of a runtime ID (`python-3.9` -> `python`)."""
    return runtime_id.split("-")[0]
