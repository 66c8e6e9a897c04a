"""The `train` stage of `repro-audit run`: the entry's training image, run as the competition ran it.

Per entry:
1. The training target is the one the overrides name (`train-dockerfile`), else the one the static
   audit took for training (by its name, folder or command). Its image comes from the build stage.
2. It runs on the host of the entry's track (a `cpu` host when the track has none: then without a GPU,
   which the result says), in the sandbox, with the profile's memory limit (or the overrides'), the
   host's GPUs by device request, and an empty output folder of the run mounted where the entry writes
   its weights (`/output` unless the overrides say otherwise). Its output goes to
   `DIR/entries/<entry>/train/train.log` as it comes, through the secret guard.
3. At the training limit (24 h by default; the host profile's `timeouts.train`, or the overrides') it is
   killed and removed: nothing of it is left running.
4. The end is classified: finished (exit 0), timeout, oom-killed (the kernel killed it for the memory
   limit), cuda-oom (PyTorch's "CUDA out of memory" and its kin in the log), failed (any other exit, with
   the exit code and the last lines of the log), or not-started (the engine refused the container).
5. Where the host has GPUs, `nvidia-smi` samples memory and utilisation during the run (`rebuild.gpu`);
   on a host without, that step is skipped with its reason.

The weights stay in `DIR/entries/<entry>/train/output/`, which the eval stage can mount into the
inference container.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import requests

from audit.model import Finding
from audit.runner.stages import Prior, RunContext, StageOutcome
from audit.runner.state import EntryRow
from audit.serialize import finding_dict
from rebuild import engine, issues
from rebuild.hosts import LOCAL, HostProfile
from rebuild.jobs import (
    CLASSIFY_LINES,
    CUDA_OOM,
    TAIL_LINES,
    container_spec,
    gpu_sampler,
    image_target,
    job_host,
    no_host,
    relative,
    tail_lines,
)
from rebuild.overrides import EntrySettings, Overrides
from rebuild.slots import host_slot, job_slots


@dataclass(frozen=True)
class TrainOptions:
    """Picklable: travels to the worker processes with the stage."""

    hosts: tuple[HostProfile, ...] = (LOCAL,)
    overrides: Overrides = field(default_factory=Overrides)
    sample_interval: float = 5.0  # seconds between nvidia-smi samples


@dataclass(frozen=True)
class TrainEnd:
    kind: str  # finished | timeout | oom-killed | cuda-oom | failed | not-started
    summary: str
    evidence: tuple[str, ...] = ()  # log lines that decided it

    @property
    def finished(self) -> bool:
        return self.kind == "finished"


def classify_end(result: engine.JobResult, log_lines: list[str], memory: int | None) -> TrainEnd:
    """The training's end in one class. A kill at the deadline is a timeout whatever the log says; a
    memory kill by the kernel is oom-killed; a CUDA out-of-memory error in the log beats the exit code."""
    if result.outcome == "not-started":
        return TrainEnd("not-started", f"the engine did not start the training container: {result.error}")
    if result.outcome == "timeout":
        return TrainEnd("timeout", f"training was still running at its limit and was stopped ({result.error})")
    cuda = [line for line in log_lines if CUDA_OOM.search(line)]
    if result.exit_code == 0:
        if result.oom_killed:
            return TrainEnd("finished", "training finished (a process inside was killed for memory on the way)")
        return TrainEnd("finished", "training finished")
    if result.oom_killed:
        limit = f" of {_mib(memory)}" if memory else ""
        return TrainEnd(
            "oom-killed", f"the kernel killed training for exceeding the memory limit{limit}", tuple(log_lines[-3:])
        )
    if cuda:
        return TrainEnd("cuda-oom", "training ran out of GPU memory (CUDA out of memory)", tuple(cuda[-3:]))
    tail = tuple(line for line in log_lines[-TAIL_LINES:] if line.strip())
    return TrainEnd("failed", f"training exited with code {result.exit_code}", tail[-5:])


class TrainStage:
    name = "train"
    needs: tuple[str, ...] = ("ingest", "static", "build")

    def __init__(self, options: TrainOptions | None = None) -> None:
        self.options = options or TrainOptions()

    def run(self, entry: EntryRow, context: RunContext, prior: dict[str, Prior]) -> StageOutcome:
        settings = self.options.overrides.for_entry(entry.name)
        target, why_not = image_target(prior.get("build"), "train", settings.train_dockerfile)
        if target is None:
            return StageOutcome("skipped", why_not)
        host = job_host(entry.name, entry.track, self.options.hosts)
        if host is None:
            return StageOutcome("skipped", no_host(entry.track))
        folder = context.run_dir / "entries" / entry.name / "train"
        try:
            with host_slot(context.run_dir, host, "gpu-job", job_slots(host)) as waited:
                return self._train(entry, context, host, settings, target, folder, waited)
        except engine.EngineUnavailable as exc:
            return StageOutcome("skipped", str(exc), data={"host": host.name})
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            return StageOutcome("errored", f"the engine failed during training: {engine.describe(exc)}")

    def _train(
        self,
        entry: EntryRow,
        context: RunContext,
        host: HostProfile,
        settings: EntrySettings,
        target: dict[str, Any],
        folder: Path,
        waited: float,
    ) -> StageOutcome:
        output = _fresh_output(folder / "output")
        log = folder / "train.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_bytes(b"")
        limit = settings.train_timeout or host.timeouts.train
        memory = settings.memory or host.memory
        run_id = context.run_id or "unlabelled"
        spec = container_spec(
            host,
            settings,
            target["image"]["id"],
            engine.run_labels(run_id, "train", entry.name, target["dockerfile"]),
            log,
            mounts=((str(output), settings.train_output, False),),
            network=None if host.network else "none",
        )
        sampler = gpu_sampler(host, run_id, entry.name, self.options.sample_interval).start()
        try:
            result = engine.run_job(host.endpoint, spec, limit)
        finally:
            gpu = sampler.stop()
        lines = tail_lines(log, CLASSIFY_LINES)
        end = classify_end(result, lines, memory)
        produced = _inventory(output)
        data: dict[str, Any] = {
            "host": host.name,
            "track": host.track,
            "entry_track": entry.track,
            "gpus": list(host.gpus),
            "dockerfile": target["dockerfile"],
            "image": target["image"]["id"],
            "end": end.kind,
            "summary": end.summary,
            "exit_code": result.exit_code,
            "oom_killed": result.oom_killed,
            "seconds": round(result.seconds, 3),
            "limit_seconds": limit,
            "memory_limit": memory,
            "waited_for_host_seconds": round(waited, 3),
            "output_mount": settings.train_output,
            "output": produced,
            "log_tail": lines[-TAIL_LINES:],
            "gpu": gpu,
        }
        if not host.gpus:
            data["note"] = f"ran without a GPU: host {host.name!r} has none (track {host.track})"
        findings = _findings(end, target["dockerfile"], limit, produced)
        artifacts = {"train.log": relative(log, context.run_dir), "output": relative(output, context.run_dir)}
        blocking = [f for f in findings if f.severity >= context.fail_on]
        status = "passed" if end.finished and not blocking else "failed"
        reason = None if status == "passed" else (end.summary if not end.finished else blocking[0].message)
        return StageOutcome(status, reason, tuple(finding_dict(f) for f in findings), data, artifacts=artifacts)


def _findings(end: TrainEnd, dockerfile: str, limit: float, produced: dict[str, Any]) -> list[Finding]:
    evidence = "\n".join(end.evidence) or None
    if end.kind == "timeout":
        return [issues.TRAIN_TIMEOUT.finding(f"{end.summary}; limit {limit:g} s", dockerfile, evidence=evidence)]
    if end.kind == "oom-killed":
        return [issues.TRAIN_OOM_KILLED.finding(end.summary, dockerfile, evidence=evidence)]
    if end.kind == "cuda-oom":
        return [issues.TRAIN_CUDA_OOM.finding(end.summary, dockerfile, evidence=evidence)]
    if end.kind in ("failed", "not-started"):
        return [issues.TRAIN_FAILED.finding(end.summary, dockerfile, evidence=evidence)]
    if not produced["files"]:
        message = "training finished but wrote nothing to its output folder"
        return [issues.TRAIN_NO_OUTPUT.finding(message, dockerfile)]
    return []


def _fresh_output(folder: Path) -> Path:
    """An empty output folder the container's user can write, whatever its uid (the entrant's image may
    switch to an unprivileged user)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    with contextlib.suppress(OSError):
        folder.chmod(0o777)
    return folder


def _inventory(folder: Path) -> dict[str, Any]:
    files, size = 0, 0
    for root, _dirs, names in os.walk(folder):
        for name in names:
            files += 1
            with contextlib.suppress(OSError):
                size += (Path(root) / name).lstat().st_size
    return {"files": files, "bytes": size}


def _mib(memory: int) -> str:
    return f"{memory / 1024**2:g} MiB"
