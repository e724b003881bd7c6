"""The language adapters, installed as the package data `emulator.adapters` (see README.md here).

Nothing imports this package's code: the emulator finds the adapter programs through it and starts
them with each language's own interpreter.
"""
