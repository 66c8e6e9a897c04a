"""The one Docker wrapper: connecting to an engine, the labels every object of a run carries, and the
sandbox every container starts in. Nothing else in the project calls `docker.DockerClient` directly.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import requests

from audit.process import die_with_parent
from audit.secrets.guard import guard

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
        where = endpoint or os.environ.get("DOCKER_HOST") or "the local socket"
        raise EngineUnavailable(
            f"no Docker Engine answers at {where} ({describe(exc)}); start one with scripts/docker-engine.sh "
            "or fix the host profile's endpoint"
        ) from None
    return client


def is_local(endpoint: str | None) -> bool:
    """Does the engine run on this machine (so its containers' private addresses are reachable here)?"""
    where = endpoint if endpoint is not None else os.environ.get("DOCKER_HOST", DEFAULT_ENDPOINT)
    return where.startswith(("unix://", "/")) or where == ""


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


def describe(exc: BaseException, limit: int = 300) -> str:
    """An engine error in one line: the engine's own explanation when the SDK kept it (an HTTP error's
    text otherwise), its last line (the cause, in requests' chained messages), at most `limit` chars."""
    text = str(getattr(exc, "explanation", None) or exc).strip().splitlines()
    return text[-1].strip()[:limit] if text else type(exc).__name__


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
SETTLE_SECONDS = 10.0  # how long a container the engine is already removing is waited for


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
    started: float = 0.0  # Unix time the build started: what it created is younger
    failed_in: str | None = None  # "context": it could not be sent; "engine": the engine failed, not the build


def build(endpoint: str | None, spec: BuildSpec) -> BuildResult:
    """Build `spec` on the engine at `endpoint`, stopped at its deadline. Never leaves a container of the
    build running: at the deadline the build's RUN containers are removed at once, not left to the
    engine's own cancellation. Never raises for the entry's input: a context that cannot be sent is a
    failed build whose error says why."""
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    spec.log.write_bytes(b"")
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    started_wall = time.time()
    started = time.monotonic()
    child = context.Process(target=_build_child, args=(endpoint, spec, sender, os.getpid()), daemon=True)
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
    containers = run_containers(text)
    created = created_images(text)
    if timed_out:
        removed = stop_containers(endpoint, containers, since=started_wall)
        with spec.log.open("a", encoding="utf-8") as log:
            log.write(f"\nrepro-audit: build stopped at its deadline ({seconds:.0f} s)\n")
        error = f"the build did not finish within its limit of {spec.deadline:g} s"
        return BuildResult("timeout", None, error, seconds, containers, removed, created, started_wall)
    if outcome.get("image_id"):
        return BuildResult("built", str(outcome["image_id"]), None, seconds, containers, (), created, started_wall)
    error = outcome.get("error") or f"the build client ended without a result (exit code {child.exitcode})"
    return BuildResult(
        "failed", None, str(error), seconds, containers, (), created, started_wall, outcome.get("failed_in")
    )


def stop_containers(
    endpoint: str | None, containers: tuple[str, ...], *, since: float, wait: float = SETTLE_SECONDS
) -> tuple[str, ...]:
    """Remove, now, the build containers a log named that still exist; returns those removed here.

    The ids come from the build's output, which the entrant's RUN steps can also write to: only a
    container created since the build started, from an image id (as the builder creates them, never from
    a name), is touched. One the engine is already removing is waited for (at most `wait` seconds)."""
    if not containers:
        return ()
    try:
        client = connect(endpoint)
    except EngineUnavailable:
        return ()
    removed = []
    try:
        for container in builder_containers(client, containers, since=since):
            try:
                client.api.remove_container(container, force=True)
                removed.append(container[:12])
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:  # removal already in progress: the engine's own cancellation
                until = time.monotonic() + wait
                while time.monotonic() < until and client.api.containers(all=True, filters={"id": container}):
                    time.sleep(0.2)
        return tuple(removed)
    finally:
        client.close()


def builder_containers(client: docker.DockerClient, named: Iterable[str], *, since: float) -> list[str]:
    """The full ids of the containers among `named` (short ids from a build log) that the classic
    builder made for a build started at `since` (Unix time): created since then, from an image id."""
    shorts = set(named)
    found = []
    for container in client.api.containers(all=True):
        full = str(container["Id"])
        if not any(full.startswith(short) for short in shorts):
            continue
        if int(container.get("Created") or 0) >= int(since) - 1 and str(container.get("Image", "")).startswith(
            "sha256:"
        ):
            found.append(full)
    return found


def run_containers(log: str) -> tuple[str, ...]:
    """The RUN containers a build log names (` ---> Running in <id>`), short ids, in order."""
    return tuple(dict.fromkeys(_RUNNING_IN.findall(log)))


def created_images(log: str) -> tuple[str, ...]:
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


def _build_child(endpoint: str | None, spec: BuildSpec, result: Connection, parent: int) -> None:
    """In the child: make the build request and copy its output to the log, every line through the
    secret guard (the entrant's RUN steps print what they like). Dies with its parent."""
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    image_id: str | None = None
    error: str | None = None
    failed_in: str | None = None
    sending = True  # until the engine answers, a failure is the context's (an unreadable .dockerignore...)
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
                sending = False
                if "stream" in item:
                    log.write(guard(str(item["stream"])))
                elif "error" in item:
                    error = guard(str(item.get("errorDetail", {}).get("message") or item["error"]))
                    log.write(error.rstrip("\n") + "\n")
                elif "aux" in item and isinstance(item["aux"], dict) and item["aux"].get("ID"):
                    image_id = str(item["aux"]["ID"])
                elif "status" in item:  # pulling a base image
                    log.write(f"{item['status']} {item.get('id', '')}".rstrip() + "\n")
                log.flush()
    except docker.errors.APIError as exc:
        error = guard(str(exc.explanation or exc))
    except EngineUnavailable as exc:
        error, failed_in = f"the engine failed during the build: {exc}", "engine"
    except Exception as exc:  # whatever the entry's files make the SDK raise: a result, never a traceback
        failed_in = "context" if sending else "engine"
        where = "the build context could not be sent to the engine" if sending else "the engine failed during the build"
        error = guard(f"{where}: {type(exc).__name__}: {describe(exc)}")
    if image_id is None and error is None:
        error = "the engine ended the build without an image or an error"
    try:
        result.send({"image_id": image_id if error is None else None, "error": error, "failed_in": failed_in})
    finally:
        result.close()


# ---- containers that run the entries' images -----------------------------------------------------------
#
# Training and inference containers are the entrant's code running on our hosts: they start in the
# sandbox, carry the run's labels (so `clean` finds them after a crash), write their output to a log
# through the secret guard as it comes, and are removed when their stage is done with them. A deadline
# is ours to keep: the container is killed when it passes, whatever it is doing.


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    labels: dict[str, str]
    log: Path | None = None  # where run_job appends the container's stdout and stderr as they come
    memory: int | None = None  # bytes, swap included
    nano_cpus: int | None = None
    gpus: tuple[str, ...] = ()  # device ids asked for with a device request (the `--gpus device=...` of the CLI)
    mounts: tuple[tuple[str, str, bool], ...] = ()  # (host folder, container path, read_only)
    environment: dict[str, str] = field(default_factory=dict)
    network: str | None = None  # a network name, "none", or None for the engine's default bridge
    command: tuple[str, ...] | None = None  # None: the image's own CMD
    pids: int = 4096


@dataclass(frozen=True)
class JobResult:
    outcome: str  # exited | timeout | not-started
    exit_code: int | None
    oom_killed: bool  # the kernel killed it for the container's memory limit
    seconds: float
    error: str | None  # why it could not start, or what stopped it


def gpu_request(gpus: tuple[str, ...]) -> list[docker.types.DeviceRequest]:
    """The device request of `docker run --gpus device=0,1`: the NVIDIA runtime hands those GPUs in."""
    if not gpus:
        return []
    return [docker.types.DeviceRequest(driver="nvidia", device_ids=list(gpus), capabilities=[["gpu"]])]


def create_container(client: docker.DockerClient, spec: ContainerSpec) -> str:
    """Create (not start) a container for `spec` in the sandbox; returns its id."""
    volumes = {host: {"bind": inside, "mode": "ro" if read_only else "rw"} for host, inside, read_only in spec.mounts}
    host_config = client.api.create_host_config(
        binds=volumes or None,
        device_requests=gpu_request(spec.gpus) or None,
        network_mode=spec.network,
        **sandbox(spec.memory, spec.nano_cpus, spec.pids),
    )
    created = client.api.create_container(
        spec.image,
        command=list(spec.command) if spec.command is not None else None,
        environment=spec.environment or None,
        labels=spec.labels,
        host_config=host_config,
        detach=True,
    )
    return str(created["Id"])


class LogFollower:
    """Copies a container's output to its log file from a thread of its own, line by line through the
    secret guard (a token cut in two by the engine's chunks must still be seen whole)."""

    def __init__(self, endpoint: str | None, container: str, log: Path) -> None:
        self._endpoint, self._container, self._log = endpoint, container, log
        self._thread = threading.Thread(target=self._follow, name=f"log-{container[:12]}", daemon=True)

    def start(self) -> LogFollower:
        self._log.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def join(self, timeout: float = 10.0) -> None:
        self._thread.join(timeout)

    def _follow(self) -> None:
        with contextlib.suppress(EngineUnavailable, docker.errors.DockerException, OSError, ValueError):
            client = connect(self._endpoint)
            try:
                stream = client.api.logs(self._container, stream=True, follow=True, stdout=True, stderr=True)
                pending = b""
                with self._log.open("a", encoding="utf-8", errors="replace") as out:
                    for chunk in stream:
                        pending += chunk
                        *lines, pending = pending.split(b"\n")
                        for line in lines:
                            out.write(guard(line.decode("utf-8", errors="replace")) + "\n")
                        if len(pending) > 64 * 1024:  # a line that never ends is written in pieces
                            out.write(guard(pending.decode("utf-8", errors="replace")) + "\n")
                            pending = b""
                        out.flush()
                    if pending:
                        out.write(guard(pending.decode("utf-8", errors="replace")) + "\n")
            finally:
                client.close()


def run_job(endpoint: str | None, spec: ContainerSpec, deadline: float, *, poll: float = 0.5) -> JobResult:
    """Run `spec` to its end or to `deadline` seconds, whichever comes first, and remove the container.
    At the deadline the container is killed: nothing of it is left running. Never raises for what the
    entry does; an engine that fails is raised as `docker.errors.DockerException` or `EngineUnavailable`."""
    if spec.log is None:
        raise ValueError("run_job needs a log file")
    log_file = spec.log
    client = connect(endpoint)
    started = time.monotonic()
    container: str | None = None
    try:
        try:
            container = create_container(client, spec)
            client.api.start(container)
        except docker.errors.APIError as exc:  # a missing image, a device request no runtime serves...
            return JobResult("not-started", None, False, time.monotonic() - started, describe(exc))
        follower = LogFollower(endpoint, container, log_file).start()
        state = _state(client, container)
        while state.get("Running") and time.monotonic() - started < deadline:
            time.sleep(poll)
            state = _state(client, container)
        timed_out = bool(state.get("Running"))
        if timed_out:
            with contextlib.suppress(docker.errors.APIError):
                client.api.kill(container)
            state = _wait_stopped(client, container)
        seconds = time.monotonic() - started
        follower.join()
        if timed_out:
            with log_file.open("a", encoding="utf-8") as log:
                log.write(f"repro-audit: stopped at its deadline ({deadline:g} s)\n")
            return JobResult("timeout", None, False, seconds, f"still running at its limit of {deadline:g} s")
        return JobResult("exited", int(state.get("ExitCode", -1)), bool(state.get("OOMKilled")), seconds, None)
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
                client.api.remove_container(container, force=True, v=True)
        client.close()


def _state(client: docker.DockerClient, container: str) -> dict[str, Any]:
    return dict(client.api.inspect_container(container).get("State") or {})


def _wait_stopped(client: docker.DockerClient, container: str, wait: float = SETTLE_SECONDS) -> dict[str, Any]:
    until = time.monotonic() + wait
    state = _state(client, container)
    while state.get("Running") and time.monotonic() < until:
        time.sleep(0.1)
        state = _state(client, container)
    return state
