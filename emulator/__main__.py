"""`python -m emulator serve ...`."""

from emulator.cli import run

if __name__ == "__main__":
    run()
