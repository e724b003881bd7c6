"""PyInstaller runtime hook: give child processes the library search path the user had.

The one-file bootloader puts its extraction folder first on LD_LIBRARY_PATH so that the bundled
interpreter finds its libraries; the dynamic loader has read it by the time Python runs, so the
emulator itself no longer needs it. Left in place, system programs the emulator starts (node, npm,
unshare, a user's python3) would load the bundle's copies of shared libraries instead of their own.
"""

import os

_original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
if _original is None:
    os.environ.pop("LD_LIBRARY_PATH", None)
else:
    os.environ["LD_LIBRARY_PATH"] = _original
