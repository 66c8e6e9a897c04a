"""Process hygiene shared by the runner's workers and the build clients they start."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import signal
import sys


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (prctl PR_SET_PDEATHSIG): a run killed with
    SIGKILL must not leave workers behind that go on building, holding the run folder's lock."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
