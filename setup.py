"""Only what pyproject.toml cannot say: `runtimes/` (the adapters' home) ships as `emulator.adapters`."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["emulator", "emulator.*"]), "emulator.adapters"],
    package_dir={"emulator.adapters": "runtimes"},
)
