"""The resources of the Functions service and their Appwrite 1.3 JSON shape (key order included)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulator.dates import format_datetime

Document = dict[str, Any]


@dataclass
class Variable:
    id: str
    function_id: str
    key: str
    value: str
    created_at: datetime
    updated_at: datetime

    def to_document(self) -> Document:
        return {
            "$id": self.id,
            "$createdAt": format_datetime(self.created_at),
            "$updatedAt": format_datetime(self.updated_at),
            "key": self.key,
            "value": self.value,
            "functionId": self.function_id,
        }


@dataclass
class Function:
    id: str
    name: str
    runtime: str
    created_at: datetime
    updated_at: datetime
    execute: list[str] = field(default_factory=list)
    enabled: bool = True
    deployment: str = ""
    events: list[str] = field(default_factory=list)
    schedule: str = ""
    schedule_next: datetime | None = None
    schedule_previous: datetime | None = None
    schedule_updated_at: datetime | None = None
    timeout: int = 15
    vars: list[Variable] = field(default_factory=list)

    def to_document(self) -> Document:
        return {
            "$id": self.id,
            "$createdAt": format_datetime(self.created_at),
            "$updatedAt": format_datetime(self.updated_at),
            "execute": list(self.execute),
            "name": self.name,
            "enabled": self.enabled,
            "runtime": self.runtime,
            "deployment": self.deployment,
            "vars": [v.to_document() for v in self.vars],
            "events": list(self.events),
            "schedule": self.schedule,
            "scheduleNext": format_datetime(self.schedule_next),
            "schedulePrevious": format_datetime(self.schedule_previous),
            "timeout": self.timeout,
        }

    @property
    def search_text(self) -> str:
        return f"{self.id} {self.name} {self.runtime}"


@dataclass(frozen=True)
class Runtime:
    id: str
    name: str
    version: str
    base: str
    image: str
    logo: str
    supports: tuple[str, ...]

    def to_document(self) -> Document:
        return {
            "$id": self.id,
            "name": self.name,
            "version": self.version,
            "base": self.base,
            "image": self.image,
            "logo": self.logo,
            "supports": list(self.supports),
        }


def list_document(key: str, total: int, items: list[Document]) -> Document:
    """A list model: `total` first, then the array under `key` (`functions`, `variables`, ...)."""
    return {"total": total, key: items}


@dataclass
class Build:
    id: str
    deployment_id: str
    runtime: str
    status: str  # processing, building, ready, failed
    created_at: datetime
    updated_at: datetime
    started_at: datetime
    stdout: str = ""
    stderr: str = ""
    duration: int = 0
    path: str = ""


@dataclass
class Deployment:
    id: str
    function_id: str
    entrypoint: str
    size: int
    activate: bool
    created_at: datetime
    updated_at: datetime
    build_id: str = ""
    path: str = ""
    chunks_total: int = 1
    chunks_uploaded: int = 0
    build: Build | None = None

    @property
    def search_text(self) -> str:
        return f"{self.id} {self.entrypoint}"

    def to_document(self, *, status: str | None = None, build_time: bool = False) -> Document:
        """The 1.3 deployment model, enriched from its build.

        Args:
            status: override the status (`""` in the create response).
            build_time: fill `buildTime` (1.3 does so in lists only).
        """
        build = self.build
        return {
            "$id": self.id,
            "$createdAt": format_datetime(self.created_at),
            "$updatedAt": format_datetime(self.updated_at),
            "resourceId": self.function_id,
            "resourceType": "functions",
            "entrypoint": self.entrypoint,
            "size": self.size,
            "buildId": self.build_id,
            "activate": self.activate,
            "status": status if status is not None else (build.status if build else "processing"),
            "buildStdout": build.stdout if build else "",
            "buildStderr": build.stderr if build else "",
            "buildTime": build.duration if build and build_time else 0,
        }


@dataclass
class Execution:
    id: str
    function_id: str
    deployment_id: str
    trigger: str  # http, schedule, event
    status: str  # waiting, processing, completed, failed
    created_at: datetime
    updated_at: datetime
    permissions: list[str] = field(default_factory=list)
    status_code: int = 0
    response: str = ""
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0

    @property
    def search_text(self) -> str:
        return f"{self.function_id} {self.id}"

    def to_document(self, *, with_logs: bool = True) -> Document:
        """The 1.3 execution model; `with_logs=False` blanks stdout/stderr (non-key callers)."""
        return {
            "$id": self.id,
            "$createdAt": format_datetime(self.created_at),
            "$updatedAt": format_datetime(self.updated_at),
            "$permissions": list(self.permissions),
            "functionId": self.function_id,
            "trigger": self.trigger,
            "status": self.status,
            "statusCode": self.status_code,
            "response": self.response,
            "stdout": self.stdout if with_logs else "",
            "stderr": self.stderr if with_logs else "",
            "duration": self.duration,
        }
