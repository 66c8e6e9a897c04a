"""`repro-audit hosts`: is each host profile usable? Engine reachable, its version, free disk for images,
and for a GPU track the GPUs a container really sees (`nvidia-smi` in the profile's probe image, through
a device request, as training and inference containers will get them).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import docker.types
import requests

from rebuild import engine
from rebuild.hosts import HostProfile, format_duration

MIN_FREE_BYTES = 10 * 1024**3  # less than this for images and build cache makes a host unusable
GPU_MEMORY_MIB = {"A100-40GB": 40_000, "RTX4090-24GB": 23_000}  # what nvidia-smi shows, a little rounded down
_SMI_LINE = re.compile(r"^\s*(\d+)\s*,\s*([^,]+?)\s*,\s*(\d+)\s*(?:MiB)?\s*$")


@dataclass
class HostCheck:
    profile: HostProfile
    reachable: bool = False
    version: str | None = None  # engine version (API version)
    gpus: list[str] = field(default_factory=list)  # "0: NVIDIA A100-SXM4-40GB, 40960 MiB"
    gpu_note: str = "not needed (cpu track)"
    free_bytes: int | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.reachable and not self.problems

    def to_dict(self) -> dict[str, Any]:
        profile = self.profile
        return {
            "name": profile.name,
            "endpoint": profile.where,
            "track": profile.track,
            "usable": self.usable,
            "reachable": self.reachable,
            "engine": self.version,
            "gpus_expected": list(profile.gpus),
            "gpus_seen": list(self.gpus),
            "gpu_note": self.gpu_note,
            "free_bytes": self.free_bytes,
            "memory": profile.memory,
            "cpus": profile.cpus,
            "pull": profile.pull,
            "network": profile.network,
            "limits": ", ".join(
                f"{name} {format_duration(seconds)}"
                for name, seconds in (
                    ("build", profile.timeouts.build),
                    ("train", profile.timeouts.train),
                    ("eval", profile.timeouts.eval_open),
                    ("closed eval", profile.timeouts.eval_closed),
                )
            ),
            "timeouts": {
                "build": profile.timeouts.build,
                "train": profile.timeouts.train,
                "eval_open": profile.timeouts.eval_open,
                "eval_closed": profile.timeouts.eval_closed,
            },
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def check_evaluator(configured: str | None = None) -> dict[str, Any]:
    """Can the eval stage run HELM here, and is it the pinned version the competition's numbers need?"""
    from rebuild.helm import HELM_VERSION, find_helm

    found = find_helm(configured)
    if isinstance(found, str):
        return {"usable": False, "path": None, "version": None, "pinned": False, "note": found}
    note = None
    if not found.pinned:
        note = (
            f"crfm-helm {found.version or '(version unknown)'} is not the pinned {HELM_VERSION}: "
            "scores may differ from the competition's"
        )
    return {"usable": True, **found.to_dict(), "note": note}


def check_host(profile: HostProfile) -> HostCheck:
    result = HostCheck(profile)
    try:
        client = engine.connect(profile.endpoint, timeout=30)
    except engine.EngineUnavailable as exc:
        result.problems.append(str(exc))
        result.gpu_note = "not checked"
        return result
    try:
        result.reachable = True
        version = client.version()
        result.version = f"{version.get('Version', '?')} (API {version.get('ApiVersion', '?')})"
        _check_disk(client, profile, result)
        if profile.needs_gpu:
            _check_gpus(client, profile, result)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        result.problems.append(f"the engine failed to answer: {exc}")
    finally:
        client.close()
    return result


def _check_disk(client: docker.DockerClient, profile: HostProfile, result: HostCheck) -> None:
    """Free space where the engine keeps images: measured here when the engine is on this machine, else
    with `df` in a container of the probe image (a container's root lives on that file system)."""
    root = str(client.info().get("DockerRootDir") or "/var/lib/docker")
    local = profile.endpoint is None or profile.endpoint.startswith("unix://")
    if local and os.path.isdir(root):
        stats = os.statvfs(root)
        result.free_bytes = stats.f_bavail * stats.f_frsize
    else:
        output = _probe(client, profile, ["df", "-Pk", "/"], result, gpu=False)
        if output is None:
            result.notes.append("free disk not measured: the probe image is not on the host")
            return
        lines = output.strip().splitlines()
        fields = lines[-1].split() if lines else []
        if len(fields) >= 4 and fields[3].isdigit():
            result.free_bytes = int(fields[3]) * 1024
    if result.free_bytes is not None and result.free_bytes < MIN_FREE_BYTES:
        result.problems.append(
            f"only {result.free_bytes / 1024**3:.1f} GiB free for images in {root} (at least "
            f"{MIN_FREE_BYTES // 1024**3} GiB needed): prune images (`docker system prune`) or grow the disk"
        )


def _check_gpus(client: docker.DockerClient, profile: HostProfile, result: HostCheck) -> None:
    command = ["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"]
    output = _probe(client, profile, command, result, gpu=True)
    if output is None:
        result.gpu_note = "not checked"
        return
    seen = [m for m in (_SMI_LINE.match(line) for line in output.splitlines()) if m]
    result.gpus = [f"{m.group(1)}: {m.group(2)}, {m.group(3)} MiB" for m in seen]
    if len(seen) != len(profile.gpus):
        result.problems.append(
            f"a container sees {len(seen)} GPU(s), the profile names {len(profile.gpus)} ({', '.join(profile.gpus)})"
        )
    small = [m for m in seen if int(m.group(3)) < GPU_MEMORY_MIB.get(profile.track, 0)]
    if small:
        result.problems.append(
            f"GPU {small[0].group(1)} has {small[0].group(3)} MiB, less than a {profile.track} "
            "(the track's memory is part of the competition's limits)"
        )
    result.gpu_note = f"{len(seen)} visible" if seen else "none visible"


def _probe(
    client: docker.DockerClient, profile: HostProfile, command: list[str], result: HostCheck, *, gpu: bool
) -> str | None:
    """Run `command` in a sandboxed, labelled container of the probe image; None when it cannot run."""
    image = profile.probe_image
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        if not profile.pull:
            if gpu:
                result.problems.append(
                    f"the GPU probe image {image} is not on the host and the profile allows no pulls: pull it "
                    "there, or set pull = true"
                )
            return None
        try:
            client.images.pull(image)
        except docker.errors.DockerException as exc:
            result.problems.append(f"cannot pull the probe image {image}: {engine.describe(exc)}")
            return None
    kwargs = engine.sandbox(memory=256 * 1024**2, pids=64)
    if gpu:
        kwargs["device_requests"] = [docker.types.DeviceRequest(device_ids=list(profile.gpus), capabilities=[["gpu"]])]
    container = None
    try:
        container = client.containers.create(
            image,
            command,
            labels=engine.run_labels("hosts-check", "probe"),
            network_disabled=True,
            **kwargs,
        )
        container.start()
        status = container.wait(timeout=120)
        output = bytes(container.logs(stdout=True, stderr=True)).decode("utf-8", "replace")
        if status.get("StatusCode") != 0:
            result.problems.append(f"`{' '.join(command[:1])}` in {image} failed: {output.strip()[-200:]}")
            return None
        return output
    except docker.errors.DockerException as exc:
        what = "no GPU reached the container" if gpu else "the probe container failed"
        hint = ""
        if gpu and "could not select device driver" in str(exc):
            hint = " (the engine has no GPU runtime: install the NVIDIA Container Toolkit on the host)"
        result.problems.append(f"{what}: {engine.describe(exc)}{hint}")
        return None
    except requests.exceptions.RequestException as exc:  # wait() times out on a hung probe
        result.problems.append(f"the probe in {image} did not answer: {engine.describe(exc)}")
        return None
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
