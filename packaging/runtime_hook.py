"""PyInstaller runtime hook, run in the emulator's process before the emulator is imported.

A one-file binary is two processes: the bootloader, which unpacks the bundle into a temporary
folder, starts the emulator as its child, passes on every signal it receives, waits for it and
then removes the folder; and the emulator. This hook makes the pair behave like one program:

- Child processes get the library search path the user had. The bootloader puts its unpack folder
  first on LD_LIBRARY_PATH so that the bundled interpreter finds its libraries; the dynamic loader
  has read it by the time Python runs, so the emulator no longer needs it. Left in place, system
  programs the emulator starts (node, npm, unshare, a user's python3) would load the bundle's
  copies of shared libraries instead of their own.
- A signal sent to the process group reaches the emulator once. Ctrl-C in a terminal (and
  `timeout`, or a harness that signals the group) sends SIGINT to every process of the group; the
  emulator would get it twice, directly and passed on by the bootloader, and uvicorn takes a second
  SIGINT as "quit now", skipping the app's shutdown. In a process group of its own, the emulator
  gets only the bootloader's copy. (Not done when the terminal stops background processes that
  write to it, `stty tostop`: the emulator would stop at its first line of output.)
- The emulator stops when the bootloader dies. `kill -9` of the bootloader (what `Popen.kill()`
  and many test harnesses send) would otherwise leave the emulator running without a parent, still
  holding its port; Linux's parent-death signal turns that into a SIGTERM, a clean shutdown.
"""

import ctypes
import os
import signal
import sys
import termios

_original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
if _original is None:
    os.environ.pop("LD_LIBRARY_PATH", None)
else:
    os.environ["LD_LIBRARY_PATH"] = _original


def _terminal_stops_background_writers() -> bool:
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and termios.tcgetattr(fd)[3] & termios.TOSTOP:
                return True
        except (OSError, termios.error):
            continue
    return False


if not _terminal_stops_background_writers():
    try:
        os.setpgid(0, 0)
    except OSError:  # already a group or session leader: signals reach it once anyway
        pass

_PR_SET_PDEATHSIG = 1
if sys.platform.startswith("linux"):
    _launcher = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl in this libc: nothing more to do
        pass
    else:
        if os.getppid() != _launcher:  # the bootloader died before the signal was armed
            os.kill(os.getpid(), signal.SIGTERM)
