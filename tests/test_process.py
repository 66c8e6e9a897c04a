"""`audit.process`: a long command run to its deadline with its output logged line by line, and its whole
process group killed at the deadline (children included)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.process import CommandResult, kill_group, run_logged


def _dead(pid: int) -> bool:
    """Gone, or a zombie nobody reaped yet (in a container, PID 1 may not reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def _wait_dead(pid: int) -> bool:
    """SIGKILL is delivered asynchronously: give the kernel a moment (this bounds the wait, it asserts nothing
    about time)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if _dead(pid):
            return True
        time.sleep(0.02)
    return _dead(pid)


@contextlib.contextmanager
def _reaped(pidfile: Path) -> Iterator[None]:
    """Whatever the test finds, leave no `sleep 100` behind."""
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text(encoding="utf-8").strip())
            # only our own `sleep 100`: a pid that died may have been reused by now
            if not _dead(pid) and Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x00100\x00":
                os.kill(pid, signal.SIGKILL)


def test_output_is_merged_and_guarded_line_by_line(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "helm.log"  # its folder is made
    seen: list[str] = []

    def shout(line: str) -> str:
        seen.append(line)
        return line.upper()

    result = run_logged(
        ["sh", "-c", "echo out one; echo err two >&2; echo out three; exit 3"], log=log, timeout=30, guard=shout
    )
    assert result == CommandResult(3, False, result.seconds, None)
    assert log.read_text(encoding="utf-8") == "OUT ONE\nERR TWO\nOUT THREE\n"
    assert seen == ["out one\n", "err two\n", "out three\n"]  # one call per line


def test_output_is_appended_to_the_log(tmp_path: Path) -> None:
    log = tmp_path / "helm.log"
    log.write_text("earlier run\n", encoding="utf-8")
    result = run_logged(["sh", "-c", "printf 'a\\nb'"], log=log, timeout=30)
    assert result.exit_code == 0 and not result.timed_out and result.error is None
    assert log.read_text(encoding="utf-8") == "earlier run\na\nb"


def test_undecodable_output_is_replaced_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "helm.log"
    result = run_logged(["sh", "-c", "printf 'caf\\351\\n'; echo after"], log=log, timeout=30)
    assert result.exit_code == 0
    assert log.read_text(encoding="utf-8") == "caf\ufffd\nafter\n"


def test_environment_and_working_directory(tmp_path: Path) -> None:
    log = tmp_path / "helm.log"
    work = tmp_path / "work"
    work.mkdir()
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ONLY_THIS": "given"}
    result = run_logged(
        ["sh", "-c", 'echo "$ONLY_THIS ${HOME:-no-home}"; pwd'], log=log, timeout=30, env=environment, cwd=work
    )
    assert result.exit_code == 0
    assert log.read_text(encoding="utf-8").splitlines() == ["given no-home", str(work.resolve())]


def test_a_command_past_its_deadline_is_killed_with_its_children(tmp_path: Path) -> None:
    log = tmp_path / "helm.log"
    pidfile = tmp_path / "child.pid"
    with _reaped(pidfile):
        result = run_logged(
            ["sh", "-c", f"echo started; sleep 100 & echo $! > {pidfile}; wait"], log=log, timeout=1.0, cwd=tmp_path
        )
        assert result.timed_out
        assert result.exit_code is None
        assert result.error is None
        assert log.read_text(encoding="utf-8") == "started\n"  # what it wrote before the deadline is kept
        child = int(pidfile.read_text(encoding="utf-8").strip())
        assert _wait_dead(child), f"the background child {child} outlived its group's deadline"


def test_a_missing_executable_is_an_error_not_an_exception(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-helm-run")
    result = run_logged([missing, "--suite", "x"], log=tmp_path / "helm.log", timeout=30)
    assert result.exit_code is None
    assert not result.timed_out
    assert result.error is not None and missing in result.error and "could not start" in result.error


def test_kill_group_kills_the_process_and_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    with _reaped(pidfile):
        process = subprocess.Popen(
            ["sh", "-c", f"sleep 100 & echo $! > {pidfile}; echo ready; wait"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline() == b"ready\n"  # the child's pid is written by now
        child = int(pidfile.read_text(encoding="utf-8").strip())
        kill_group(process)
        assert process.returncode == -signal.SIGKILL
        assert process.stdout.closed and process.stderr is not None and process.stderr.closed
        assert _wait_dead(child)


def test_kill_group_of_a_process_already_gone(tmp_path: Path) -> None:
    process = subprocess.Popen(["true"], stdout=subprocess.PIPE, start_new_session=True)
    process.wait()
    kill_group(process)  # no ProcessLookupError
    assert process.returncode == 0


@pytest.mark.parametrize("code", [0, 1, 2, 127])
def test_the_exit_code_is_returned(tmp_path: Path, code: int) -> None:
    assert run_logged(["sh", "-c", f"exit {code}"], log=tmp_path / "log", timeout=30).exit_code == code
