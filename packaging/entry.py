"""The binary's entry point: the same as the `appwrite-emulator` console script."""

from emulator.cli import run

run()
