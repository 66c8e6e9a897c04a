"""What the train and eval stages share: which built image an entry's job runs, the host it runs on, the
container it runs in, the GPU sampler beside it, and how its log is read back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from audit.runner.stages import Prior
from rebuild import engine
from rebuild.gpu import GpuSampler
from rebuild.hosts import ENTRY_TRACKS, HostProfile, host_for
from rebuild.overrides import EntrySettings

TAIL_LINES = 20  # log lines kept with a job's result
CLASSIFY_LINES = 200  # the end of a log an end is told from: an error recovered from hours earlier is not it

# What PyTorch, the CUDA runtime and cuBLAS print when the GPU's memory runs out. Matched case-insensitively.
CUDA_OOM = re.compile(
    r"CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|CUDA error: out of memory"
    r"|cudaErrorMemoryAllocation|HIP out of memory",
    re.IGNORECASE,
)

_KEYS = {"train": "train-dockerfile", "inference": "inference-dockerfile"}


def image_target(build: Prior | None, role: str, named: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The built target of `role` an entry's job runs, or (None, why not: the reason of a skipped stage)."""
    if build is None or not build.data.get("targets"):
        return None, (build.reason if build else None) or "the entry's images were not built"
    target, why_not = pick_target(build.data["targets"], role, named)
    if target is None:
        return None, why_not
    if target.get("status") != "built":
        return None, f"the {role} image ({target['dockerfile']}) did not build"
    return target, None


def pick_target(
    targets: Iterable[dict[str, Any]], role: str, named: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """The build target of `role` (train / inference): the one the overrides name, else the only one
    the static audit gave that role. Returns (target, None) or (None, why there is none)."""
    targets = list(targets)
    key = _KEYS.get(role, f"{role}-dockerfile")
    if named is not None:
        for target in targets:
            if target["dockerfile"] == named:
                return target, None
        return None, f"the overrides name {named} as the {role} Dockerfile, but the entry has no such target"
    chosen = [t for t in targets if t.get("role") == role]
    if len(chosen) == 1:
        return chosen[0], None
    listed = ", ".join(f"{t['dockerfile']} ({t.get('role', 'unknown')})" for t in targets) or "none"
    if not chosen:
        return (
            None,
            f"no {role} Dockerfile among the entry's targets: {listed}; set {key} for the entry in the overrides file",
        )
    return None, f"several {role} Dockerfiles ({listed}); set {key} for the entry in the overrides file"


def job_host(entry_name: str, entry_track: str | None, hosts: Iterable[HostProfile]) -> HostProfile | None:
    """A host of the entry's track, else a `cpu` host (where a GPU entry runs without its GPU, which the
    result says); never a host of the other GPU track, where its memory errors would not be its own."""
    track = ENTRY_TRACKS.get(entry_track or "", entry_track)
    return host_for(entry_name, entry_track, [h for h in hosts if h.track in ("cpu", track)], gpu=False)


def no_host(entry_track: str | None) -> str:
    """Why an entry's job has no host, and what to do."""
    track = ENTRY_TRACKS.get(entry_track or "", entry_track) or "cpu"
    return f"no host profile of track {track} or cpu: add one to the --hosts file"


def container_spec(
    host: HostProfile,
    settings: EntrySettings,
    image: str,
    labels: dict[str, str],
    log: Path,
    *,
    mounts: tuple[tuple[str, str, bool], ...] = (),
    network: str | None = None,
) -> engine.ContainerSpec:
    """An entry's job container on `host`: the host's GPUs and CPUs, the overrides' memory limit, else the
    host's."""
    return engine.ContainerSpec(
        image=image,
        labels=labels,
        log=log,
        memory=settings.memory or host.memory,
        nano_cpus=int(host.cpus * 1e9) if host.cpus else None,
        gpus=host.gpus,
        mounts=mounts,
        network=network,
    )


def gpu_sampler(host: HostProfile, run_id: str, entry: str, interval: float) -> GpuSampler:
    return GpuSampler(
        host.endpoint,
        host.gpus,
        host.probe_image,
        engine.run_labels(run_id, "gpu-sampler", entry),
        interval=interval,
        host_name=f"host {host.name!r} (track {host.track})",
    )


def tail_lines(path: Path, lines: int = TAIL_LINES, *, window: int = 1024 * 1024) -> list[str]:
    """The last `lines` lines of a log, reading at most its last `window` bytes (a day of training writes
    a lot)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - window))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def relative(path: Path, run_dir: Path) -> str:
    return path.relative_to(run_dir).as_posix()
