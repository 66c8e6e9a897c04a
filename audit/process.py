"""Process hygiene shared by the runner's workers and the build clients they start, and the one way
repro-audit runs a long external command (HELM): to a deadline, in a process group of its own that is
killed whole, its output copied to a log as it comes."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (prctl PR_SET_PDEATHSIG): a run killed with
    SIGKILL must not leave workers behind that go on building, holding the run folder's lock."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def kill_group(process: subprocess.Popen[Any]) -> None:
    """Kill a process started with `start_new_session=True` and everything it started, then reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()  # not communicate(): a straggler outside the group may hold the pipes open
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None  # None when it was killed at its deadline or could not start
    timed_out: bool
    seconds: float
    error: str | None = None  # why it could not start


def run_logged(
    argv: Sequence[str],
    *,
    log: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    guard: Callable[[str], str] | None = None,
) -> CommandResult:
    """Run a command to its end or its deadline (then its whole process group is killed), appending its
    output, stdout and stderr merged, to `log` line by line, each line through `guard` when given."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # In a session of its own the command would outlive a worker killed with SIGKILL: setpriv (util-linux)
    # asks the kernel to kill it then, as die_with_parent does for the workers.
    if shutil.which(argv[0]) is None:
        return CommandResult(None, False, 0.0, f"{argv[0]} could not start: no such executable")
    setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
    prefix = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
    try:
        process = subprocess.Popen(
            [*prefix, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,  # one group to kill at the deadline, and no terminal to read Ctrl-C from
        )
    except OSError as exc:
        return CommandResult(None, False, 0.0, f"{argv[0]} could not start: {exc.strerror or exc}")
    copier = threading.Thread(target=_copy_lines, args=(process, log, guard), daemon=True)
    copier.start()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        copier.join(10)
        return CommandResult(None, True, time.monotonic() - started)
    except BaseException:
        kill_group(process)
        raise
    copier.join(10)
    return CommandResult(process.returncode, False, time.monotonic() - started)


def _copy_lines(process: subprocess.Popen[bytes], log: Path, guard: Callable[[str], str] | None) -> None:
    assert process.stdout is not None
    with contextlib.suppress(OSError, ValueError), log.open("a", encoding="utf-8", errors="replace") as out:
        for raw in process.stdout:
            line = raw.decode("utf-8", errors="replace")
            out.write(guard(line) if guard is not None else line)


@dataclass(frozen=True)
class CapturedResult:
    exit_code: int | None  # None when it was killed at its deadline or could not start
    timed_out: bool
    stdout: str
    stderr: str
    error: str | None = None  # why it could not start


def run_captured(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> CapturedResult:
    """Run a short command (a resolver such as pip-compile) to its end or its deadline, in a process group
    of its own that is killed whole at the deadline, and return what it wrote to stdout and stderr."""
    setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
    prefix = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
    try:
        process = subprocess.Popen(
            [*prefix, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        return CapturedResult(None, False, "", "", f"{argv[0]} could not start: {exc.strerror or exc}")
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        return CapturedResult(None, True, "", "")
    except BaseException:
        kill_group(process)
        raise
    return CapturedResult(
        process.returncode, False, out.decode("utf-8", errors="replace"), err.decode("utf-8", errors="replace")
    )
