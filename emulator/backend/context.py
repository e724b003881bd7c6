"""What every backend operation works with: settings, stores, runtimes, executor and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from emulator.backend.tasks import TaskSet
from emulator.config import Settings
from emulator.dates import utc_now
from emulator.executor import Executor
from emulator.runtimes import LocalRuntime
from emulator.store.db import Database
from emulator.store.deployments import DeploymentStore
from emulator.store.executions import ExecutionStore
from emulator.store.functions import FunctionStore
from emulator.store.variables import VariableStore


@dataclass
class Context:
    settings: Settings
    db: Database
    runtimes: dict[str, LocalRuntime]
    executor: Executor
    clock: Callable[[], datetime] = field(default=utc_now)
    tasks: TaskSet = field(default_factory=TaskSet)
    functions: FunctionStore = field(init=False)
    variables: VariableStore = field(init=False)
    deployments: DeploymentStore = field(init=False)
    executions: ExecutionStore = field(init=False)

    def __post_init__(self) -> None:
        self.functions = FunctionStore(self.db)
        self.variables = VariableStore(self.db)
        self.deployments = DeploymentStore(self.db)
        self.executions = ExecutionStore(self.db)

    @property
    def uploads_dir(self) -> Path:
        return self.settings.data_dir / "uploads"
