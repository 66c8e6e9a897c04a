"""How many jobs of one kind a host runs at once, across the run's worker processes.

A slot is a lock file in `DIR/workspace/slots/` (`<host>-<kind>-<n>.lock`) held with flock, so a worker
that dies frees its slot with it. Builds share a host `builds` at a time; containers that get the host's
GPUs (training, inference) one at a time, since each is given all of them.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path

from rebuild.hosts import HostProfile


@contextlib.contextmanager
def host_slot(run_dir: Path, host: HostProfile, kind: str, count: int) -> Iterator[float]:
    """Hold one of the host's `count` slots of `kind` while the block runs; yields the seconds waited."""
    folder = run_dir / "workspace" / "slots"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    while True:
        for index in range(max(1, count)):
            handle = (folder / f"{host.name}-{kind}-{index}.lock").open("a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                yield time.monotonic() - started
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        time.sleep(0.2)


def job_slots(host: HostProfile) -> int:
    """Containers of the entries running at once on `host`: one when it has GPUs (each gets them all)."""
    return 1 if host.gpus else host.builds
