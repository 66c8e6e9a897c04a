"""The one Docker wrapper: connecting to an engine, the labels every object of a run carries, and the
sandbox every container starts in. Nothing else in the project calls `docker.DockerClient` directly.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import re
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import docker
import docker.errors

from audit.process import die_with_parent

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


# ---- builds under a deadline ---------------------------------------------------------------------------
#
# The SDK's `timeout` is only the HTTP read timeout: a RUN step that prints nothing for an hour would trip
# it, and one that prints forever would never stop. So each build's request is made by a child process
# (forked: nothing to import again), and the deadline is the parent's: when it passes, the child is
# killed, which closes its connection, and the engine cancels a build whose client went away (the classic
# builder kills and removes the RUN container it was running). The parent then checks that every RUN
# container the log named is gone, waits for the engine a little, and removes what is left itself.

_RUNNING_IN = re.compile(r"^ ---> Running in ([0-9a-f]{12,64})\s*$", re.MULTILINE)
_CREATED = re.compile(r"^ ---> ([0-9a-f]{12,64})\s*$", re.MULTILINE)
_USING_CACHE = " ---> Using cache"
_STEP = re.compile(r"^Step \d+/\d+ : ")
_STEP_FROM = re.compile(r"^Step \d+/\d+ : FROM\s", re.IGNORECASE)
SETTLE_SECONDS = 30.0  # how long the engine is given to stop a cancelled build's container


@dataclass(frozen=True)
class BuildSpec:
    context: Path
    dockerfile: Path  # absolute; may lie outside the context
    tag: str
    labels: dict[str, str]
    log: Path  # the build's output is appended here as it comes
    deadline: float  # seconds of wall clock for the whole build
    build_args: dict[str, str] = field(default_factory=dict)
    nocache: bool = False
    pull: bool = False  # re-pull base images (the engine pulls a missing one regardless: check first)
    memory: int | None = None  # bytes, swap included, for every RUN container
    network: bool = True  # False: RUN steps get no network at all


@dataclass(frozen=True)
class BuildResult:
    outcome: str  # built | failed | timeout
    image_id: str | None
    error: str | None  # the engine's error message, or what stopped the build
    seconds: float
    containers: tuple[str, ...]  # the RUN containers the builder started, as the log names them
    removed_by_us: tuple[str, ...] = ()  # containers still there after a cancelled build, removed here
    intermediate_images: tuple[str, ...] = ()  # images the steps created (not taken from the cache)


def build(endpoint: str | None, spec: BuildSpec) -> BuildResult:
    """Build `spec` on the engine at `endpoint`, stopped at its deadline. Never leaves a container of the
    build running: on timeout the engine's own cancellation is checked and completed."""
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    spec.log.write_bytes(b"")
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    started = time.monotonic()
    child = context.Process(target=_build_child, args=(endpoint, spec, sender), daemon=True)
    child.start()
    sender.close()
    child.join(spec.deadline)
    timed_out = child.is_alive()
    if timed_out:
        child.kill()
        child.join()
    seconds = time.monotonic() - started
    outcome: dict[str, Any] = {}
    if not timed_out:
        try:
            outcome = receiver.recv() if receiver.poll(1.0) else {}
        except (EOFError, OSError):
            outcome = {}
    receiver.close()
    text = spec.log.read_text(encoding="utf-8", errors="replace")
    containers = tuple(dict.fromkeys(_RUNNING_IN.findall(text)))
    created = _created_images(text)
    if timed_out:
        removed = settle(endpoint, containers)
        with spec.log.open("a", encoding="utf-8") as log:
            log.write(f"\nrepro-audit: build stopped at its deadline ({seconds:.0f} s)\n")
        error = f"the build did not finish within its limit of {spec.deadline:g} s"
        return BuildResult("timeout", None, error, seconds, containers, removed, created)
    if outcome.get("image_id"):
        return BuildResult("built", str(outcome["image_id"]), None, seconds, containers, (), created)
    error = outcome.get("error") or f"the build client ended without a result (exit code {child.exitcode})"
    return BuildResult("failed", None, str(error), seconds, containers, (), created)


def settle(endpoint: str | None, containers: tuple[str, ...], wait: float = SETTLE_SECONDS) -> tuple[str, ...]:
    """Wait for the engine to remove the given containers; remove what is left after `wait` seconds.
    Returns the containers that had to be removed here."""
    if not containers:
        return ()
    client = connect(endpoint)
    try:
        until = time.monotonic() + wait
        left = _existing(client, containers)
        while left and time.monotonic() < until:
            time.sleep(0.25)
            left = _existing(client, containers)
        for container in left:
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_container(container, force=True)
        return left
    finally:
        client.close()


def _existing(client: docker.DockerClient, containers: tuple[str, ...]) -> tuple[str, ...]:
    present = [c["Id"] for c in client.api.containers(all=True)]
    return tuple(c for c in containers if any(full.startswith(c) for full in present))


def _created_images(log: str) -> tuple[str, ...]:
    """Image ids the build's steps created: a ` ---> id` line, unless it names the FROM step's base image
    or comes right after ` ---> Using cache`."""
    created = []
    previous, step = "", ""
    for line in log.splitlines():
        if _STEP.match(line):
            step = line
        match = _CREATED.match(line)
        if match and not previous.startswith(_USING_CACHE) and not _STEP_FROM.match(step):
            created.append(match.group(1))
        previous = line
    return tuple(dict.fromkeys(created))


def _build_child(endpoint: str | None, spec: BuildSpec, result: Connection) -> None:
    """In the child: make the build request and copy its output to the log. Dies with its parent."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    image_id: str | None = None
    error: str | None = None
    try:
        client = connect(endpoint, timeout=120)
        dockerfile = spec.dockerfile
        inside = dockerfile.is_relative_to(spec.context)
        limits = {"memory": spec.memory, "memswap": spec.memory} if spec.memory else None
        stream = client.api.build(
            path=str(spec.context),
            dockerfile=dockerfile.relative_to(spec.context).as_posix() if inside else str(dockerfile),
            tag=spec.tag,
            rm=True,
            forcerm=True,
            nocache=spec.nocache,
            pull=spec.pull,
            labels=spec.labels,
            buildargs=spec.build_args or None,
            container_limits=limits,
            network_mode=None if spec.network else "none",
            decode=True,
            timeout=None,
        )
        with spec.log.open("a", encoding="utf-8", errors="replace") as log:
            for item in stream:
                if "stream" in item:
                    log.write(str(item["stream"]))
                elif "error" in item:
                    error = str(item.get("errorDetail", {}).get("message") or item["error"])
                    log.write(error.rstrip("\n") + "\n")
                elif "aux" in item and isinstance(item["aux"], dict) and item["aux"].get("ID"):
                    image_id = str(item["aux"]["ID"])
                elif "status" in item:  # pulling a base image
                    log.write(f"{item['status']} {item.get('id', '')}".rstrip() + "\n")
                log.flush()
    except docker.errors.APIError as exc:
        error = str(exc.explanation or exc)
    except (EngineUnavailable, docker.errors.DockerException, OSError) as exc:
        error = f"{type(exc).__name__}: {_short(exc)}"
    if image_id is None and error is None:
        error = "the engine ended the build without an image or an error"
    try:
        result.send({"image_id": image_id if error is None else None, "error": error})
    finally:
        result.close()
