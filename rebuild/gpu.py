"""GPU memory and utilisation while an entry's container runs, sampled by `nvidia-smi`.

The sampler is a container of its own, started from the host profile's probe image with the same GPUs
as the entry's container, running `nvidia-smi --query-gpu ... -l N`: it works the same on a local and on
a remote engine, and needs nothing of the entry's image. On a host without GPUs there is nothing to
sample, and that is said as a skipped step with its reason, not as a failure.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests

from rebuild import engine

QUERY = "index,memory.used,memory.total,utilization.gpu"


@dataclass(frozen=True)
class GpuSample:
    index: str
    memory_used_mib: float
    memory_total_mib: float
    utilization_percent: float


def parse_samples(text: str) -> list[GpuSample]:
    """The CSV lines of `nvidia-smi --query-gpu=index,memory.used,memory.total,utilization.gpu
    --format=csv,noheader,nounits`; lines that are not such rows ("[N/A]", messages) are skipped."""
    samples = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4:
            continue
        try:
            used, total, utilization = (float(p) for p in parts[1:])
        except ValueError:
            continue
        samples.append(GpuSample(parts[0], used, total, utilization))
    return samples


def summarize(samples: list[GpuSample], interval: float) -> dict[str, Any]:
    if not samples:
        return {"status": "skipped", "reason": "nvidia-smi printed no sample"}
    per_gpu = sorted({s.index for s in samples})
    return {
        "status": "sampled",
        "interval_seconds": interval,
        "samples": len(samples),
        "gpus": per_gpu,
        "peak_memory_mib": max(s.memory_used_mib for s in samples),
        "total_memory_mib": max(s.memory_total_mib for s in samples),
        "mean_utilization_percent": round(sum(s.utilization_percent for s in samples) / len(samples), 1),
        "max_utilization_percent": max(s.utilization_percent for s in samples),
    }


class GpuSampler:
    """Start with `start()`, read with `stop()`; both never raise: a sampler that cannot run is a skip."""

    def __init__(
        self,
        endpoint: str | None,
        gpus: tuple[str, ...],
        image: str,
        labels: dict[str, str],
        *,
        interval: float = 5.0,
        request_devices: bool = True,  # False only to exercise the sampler on a host without GPUs
        host_name: str = "the host",
    ) -> None:
        self.endpoint, self.gpus, self.image, self.labels = endpoint, gpus, image, labels
        self.interval, self.request_devices, self.host_name = interval, request_devices, host_name
        self._container: str | None = None
        self._skipped: str | None = None

    def start(self) -> GpuSampler:
        if not self.gpus:
            self._skipped = f"{self.host_name} has no GPU: GPU memory and utilisation are not sampled"
            return self
        command = (
            "nvidia-smi",
            f"--query-gpu={QUERY}",
            "--format=csv,noheader,nounits",
            f"--id={','.join(self.gpus)}",
            f"-lms={max(100, int(self.interval * 1000))}",
        )
        try:
            client = engine.connect(self.endpoint)
        except engine.EngineUnavailable as exc:
            self._skipped = str(exc)
            return self
        try:
            spec = engine.ContainerSpec(
                image=self.image,
                labels=self.labels,
                gpus=self.gpus if self.request_devices else (),
                network="none",
                command=command,
                pids=64,
            )
            container = engine.create_container(client, spec)
            self._container = container
            client.api.start(container)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            self._skipped = f"the GPU sampler ({self.image}) could not start: {engine.describe(exc)}"
        finally:
            client.close()
        return self

    def stop(self) -> dict[str, Any]:
        if self._container is None:
            return {"status": "skipped", "reason": self._skipped or "not started"}
        text = ""
        with contextlib.suppress(engine.EngineUnavailable):
            client = engine.connect(self.endpoint)
            try:
                with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
                    client.api.kill(self._container)
                with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
                    text = client.api.logs(self._container, stdout=True, stderr=False).decode("utf-8", "replace")
                with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
                    client.api.remove_container(self._container, force=True)
            finally:
                client.close()
        if self._skipped:
            return {"status": "skipped", "reason": self._skipped}
        return summarize(parse_samples(text), self.interval)
