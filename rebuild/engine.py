"""The one Docker wrapper: connecting to an engine, the labels every object of a run carries, and the
sandbox every container starts in. Nothing else in the project calls `docker.DockerClient` directly.
"""

from __future__ import annotations

from typing import Any

import docker
import docker.errors

LABEL_PREFIX = "org.repro-audit"
LABEL_RUN = f"{LABEL_PREFIX}.run"  # the run's id (meta `run_id` of its state): what `clean` removes
LABEL_ENTRY = f"{LABEL_PREFIX}.entry"
LABEL_TARGET = f"{LABEL_PREFIX}.target"
LABEL_PURPOSE = f"{LABEL_PREFIX}.purpose"  # build, determinism, probe...
LABEL_BASE = f"{LABEL_PREFIX}.base"  # on the local base images made by scripts/base-images.sh

# The local base images scripts/base-images.sh makes with `docker import` (no registry needed).
BUSYBOX_IMAGE = "repro-audit-local/busybox:1.35"
PYTHON_IMAGE = "repro-audit-local/python:3.11-bookworm"

DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"


class EngineUnavailable(Exception):
    """No Docker Engine answers at an endpoint; the message says what to do."""


def connect(endpoint: str | None = None, *, timeout: float = 60.0) -> docker.DockerClient:
    """A client for the engine at `endpoint` (unix socket, tcp:// or ssh://; None: DOCKER_HOST or the
    local socket), checked with a ping. ssh:// goes through the `ssh` command, so ~/.ssh/config applies."""
    try:
        if endpoint is None:
            client = docker.from_env(timeout=int(timeout))
        else:
            client = docker.DockerClient(
                base_url=endpoint, timeout=int(timeout), use_ssh_client=endpoint.startswith("ssh://")
            )
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        where = endpoint or "the local socket (DOCKER_HOST unset)"
        raise EngineUnavailable(
            f"no Docker Engine answers at {where} ({_short(exc)}); start one with scripts/docker-engine.sh "
            "or fix the host profile's endpoint"
        ) from None
    return client


def run_labels(run_id: str, purpose: str, entry: str | None = None, target: str | None = None) -> dict[str, str]:
    labels = {LABEL_RUN: run_id, LABEL_PURPOSE: purpose}
    if entry is not None:
        labels[LABEL_ENTRY] = entry
    if target is not None:
        labels[LABEL_TARGET] = target
    return labels


def sandbox(memory: int | None = None, nano_cpus: int | None = None, pids: int = 1024) -> dict[str, Any]:
    """`containers.create/run` keyword arguments every container of repro-audit starts with: never
    privileged, every capability dropped, no privilege gain through setuid, a pids limit, the profile's
    memory (swap included) and CPU limits."""
    kwargs: dict[str, Any] = {
        "privileged": False,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": pids,
    }
    if memory is not None:
        kwargs["mem_limit"] = memory
        kwargs["memswap_limit"] = memory
    if nano_cpus is not None:
        kwargs["nano_cpus"] = nano_cpus
    return kwargs


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1][:200] if text else type(exc).__name__
