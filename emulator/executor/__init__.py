"""Workers and builds: the only part of the emulator that starts processes."""

from emulator.executor.discovery import LocalRuntime
from emulator.executor.results import TIMEOUT_MESSAGE, BuildResult, ExecutionResult
from emulator.executor.service import Executor

__all__ = ["TIMEOUT_MESSAGE", "BuildResult", "ExecutionResult", "Executor", "LocalRuntime"]
