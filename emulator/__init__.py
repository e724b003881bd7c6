"""A local emulator of the Appwrite 1.3 Functions REST service."""

__version__ = "0.1.0"
