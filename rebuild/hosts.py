"""Host profiles: which Docker Engine builds and runs an entry, on which competition track, within which
limits.

A profile file (`--hosts FILE`) is TOML with one table per host:

    [hosts.a100-1]
    endpoint = "ssh://audit@gpu-a100-1"   # unix:///..., tcp://host:2376 or ssh://user@host; omitted: local
    track = "A100-40GB"                    # A100-40GB | RTX4090-24GB | cpu
    gpus = ["0"]                           # device ids given to training / inference containers
    memory = "80g"                         # memory (swap included) of every build and container
    cpus = 16                              # CPUs of every container
    pull = true                            # may a build pull a base image it does not have?
    network = true                         # may a build's RUN steps reach the network?
    builds = 2                             # builds at the same time on this host
    probe-image = "nvidia/cuda:12.2.2-base-ubuntu22.04"  # runs `nvidia-smi` for `repro-audit hosts`

    [hosts.a100-1.timeouts]
    build = "60m"                          # durations: 90s, 45m, 24h, 1h30m, or a number of seconds
    train = "24h"
    eval-open = "300m"
    eval-closed = "600m"

With no file, one built-in profile, `local`, uses the engine DOCKER_HOST names (else the local socket),
track `cpu`, no pulls (this is also what makes builds here work with no registry), network allowed.
The default limits are the competition's: a build 60 minutes, training 24 hours, the open evaluation 300
minutes, the closed one 600.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from audit.config import TomlFileError, read_toml

TRACKS = ("A100-40GB", "RTX4090-24GB", "cpu")
GPU_TRACKS = ("A100-40GB", "RTX4090-24GB")
ENTRY_TRACKS = {"A100": "A100-40GB", "4090": "RTX4090-24GB"}  # audit.discover's track names
DEFAULT_PROBE_IMAGE = "nvidia/cuda:12.2.2-base-ubuntu22.04"

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class HostsError(Exception):
    """A host profile file that cannot be used; the message names the file, the host and the key."""


@dataclass(frozen=True)
class Timeouts:
    """Wall-clock limits per stage, in seconds."""

    build: float = 60 * 60
    train: float = 24 * 60 * 60
    eval_open: float = 300 * 60
    eval_closed: float = 600 * 60


@dataclass(frozen=True)
class HostProfile:
    name: str
    track: str = "cpu"
    endpoint: str | None = None  # None: DOCKER_HOST, else the local socket
    gpus: tuple[str, ...] = ()
    memory: int | None = None  # bytes
    cpus: float | None = None
    pull: bool = False
    network: bool = True
    builds: int = 2
    probe_image: str = DEFAULT_PROBE_IMAGE
    timeouts: Timeouts = field(default_factory=Timeouts)

    @property
    def needs_gpu(self) -> bool:
        return self.track in GPU_TRACKS

    @property
    def where(self) -> str:
        return self.endpoint or "local engine"


LOCAL = HostProfile(name="local")


MAX_SECONDS = 30 * 86400.0  # no stage of the competition comes near a month; a typo might


def parse_duration(text: object) -> float:
    """`90s`, `45m`, `24h`, `1h30m`, `2d` or a plain number of seconds; positive, at most 30 days."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"{text!r} is not a duration: write e.g. 90s, 45m, 24h or 1h30m")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        value = text.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", value):
            seconds = float(value)
        else:
            parts = _DURATION.findall(value)
            if not parts or "".join(n + u for n, u in parts) != value.replace(" ", ""):
                raise ValueError(f"{text!r} is not a duration: write e.g. 90s, 45m, 24h or 1h30m")
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{text!r} is longer than 30 days: write e.g. 24h")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact way to write a duration back: 3600 -> 1h, 90 -> 1m30s, 2.5 -> 2.5s."""
    if seconds != int(seconds) or seconds < 60:
        return f"{seconds:g}s"
    whole, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts)


def parse_memory(text: object) -> int:
    """`512m`, `40g`, `1.5GiB` or a whole number of bytes."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(f"{text!r} is not an amount of memory: write e.g. 512m or 40g")
    if isinstance(text, int):
        amount = text
    else:
        match = _MEMORY.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not an amount of memory: write e.g. 512m or 40g")
        amount = int(float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()])
    if amount > 1024**5:
        raise ValueError(f"{text!r} is more memory than any host has")
    if amount < 6 * 1024 * 1024:
        raise ValueError(f"{text!r} is too little memory: the engine needs at least 6m")
    return amount


_KEYS = {"endpoint", "track", "gpus", "memory", "cpus", "pull", "network", "builds", "probe-image", "timeouts"}
_TIMEOUT_KEYS = {"build": "build", "train": "train", "eval-open": "eval_open", "eval-closed": "eval_closed"}


def load_hosts(path: Path) -> list[HostProfile]:
    try:
        data = read_toml(path, "host profile file")
    except TomlFileError as exc:
        raise HostsError(str(exc)) from None
    return parse_hosts(data, str(path))


def parse_hosts(data: dict[str, Any], source: str = "host profiles") -> list[HostProfile]:
    unknown = sorted(set(data) - {"hosts"})
    if unknown:
        raise HostsError(f"{source}: unknown top-level key {unknown[0]!r}: put each host in a [hosts.NAME] table")
    hosts = data.get("hosts")
    if not isinstance(hosts, dict) or not hosts:
        raise HostsError(f"{source}: no host: add at least one [hosts.NAME] table")
    return [_profile(name, table, source) for name, table in hosts.items()]


def _profile(name: str, table: Any, source: str) -> HostProfile:
    where = f"{source}: host {name!r}"
    if not _NAME.fullmatch(name):
        raise HostsError(f"{where}: a host name is letters, digits, '.', '_' and '-' (at most 63)")
    if not isinstance(table, dict):
        raise HostsError(f"{where}: must be a table ([hosts.{name}])")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise HostsError(f"{where}: unknown key {unknown[0]!r} (known keys: {', '.join(sorted(_KEYS))})")
    profile = HostProfile(name=name)
    try:
        changes: dict[str, Any] = {}
        if "endpoint" in table:
            changes["endpoint"] = _endpoint(table["endpoint"])
        if "track" in table:
            if table["track"] not in TRACKS:
                raise ValueError(f"track must be one of {', '.join(TRACKS)}, not {table['track']!r}")
            changes["track"] = table["track"]
        if "gpus" in table:
            gpus = table["gpus"]
            if not isinstance(gpus, list) or not all(
                isinstance(g, str | int) and not isinstance(g, bool) for g in gpus
            ):
                raise ValueError('gpus must be a list of device ids, e.g. ["0", "1"]')
            changes["gpus"] = tuple(str(g) for g in gpus)
        if "memory" in table:
            changes["memory"] = parse_memory(table["memory"])
        if "cpus" in table:
            cpus = table["cpus"]
            if isinstance(cpus, bool) or not isinstance(cpus, int | float) or not 0 < cpus < 10_000:
                raise ValueError("cpus must be a positive number")
            changes["cpus"] = float(cpus)
        for key in ("pull", "network"):
            if key in table:
                if not isinstance(table[key], bool):
                    raise ValueError(f"{key} must be true or false")
                changes[key] = table[key]
        if "builds" in table:
            builds = table["builds"]
            if isinstance(builds, bool) or not isinstance(builds, int) or not 1 <= builds <= 256:
                raise ValueError("builds must be a whole number from 1 to 256")
            changes["builds"] = builds
        if "probe-image" in table:
            if not isinstance(table["probe-image"], str) or not table["probe-image"].strip():
                raise ValueError("probe-image must be an image reference")
            changes["probe_image"] = table["probe-image"]
        if "timeouts" in table:
            changes["timeouts"] = _timeouts(table["timeouts"])
    except ValueError as exc:
        raise HostsError(f"{where}: {exc}") from None
    profile = replace(profile, **changes)
    if profile.needs_gpu and not profile.gpus:
        raise HostsError(f'{where}: track {profile.track} needs gpus (the device ids to use, e.g. ["0"])')
    return profile


def _endpoint(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(("unix://", "tcp://", "ssh://", "npipe://")):
        raise ValueError(f"endpoint must start with unix://, tcp:// or ssh://, not {value!r}")
    return value


def _timeouts(table: Any) -> Timeouts:
    if not isinstance(table, dict):
        raise ValueError("timeouts must be a table ([hosts.NAME.timeouts])")
    unknown = sorted(set(table) - set(_TIMEOUT_KEYS))
    if unknown:
        raise ValueError(f"unknown timeout {unknown[0]!r} (known: {', '.join(_TIMEOUT_KEYS)})")
    return Timeouts(**{_TIMEOUT_KEYS[key]: parse_duration(value) for key, value in table.items()})


def with_timeouts(
    hosts: list[HostProfile],
    *,
    build: float | None = None,
    train: float | None = None,
    evaluation: float | None = None,
) -> list[HostProfile]:
    """Command-line limits override every profile's (`--eval-timeout` sets both evaluation limits)."""
    out = []
    for host in hosts:
        limits = host.timeouts
        if build is not None:
            limits = replace(limits, build=build)
        if train is not None:
            limits = replace(limits, train=train)
        if evaluation is not None:
            limits = replace(limits, eval_open=evaluation, eval_closed=evaluation)
        out.append(replace(host, timeouts=limits))
    return out


def host_for(entry_name: str, entry_track: str | None, hosts: list[HostProfile], *, gpu: bool) -> HostProfile | None:
    """The profile an entry's stage runs on: one of its track's hosts (spread over them by the entry's
    name, so a resumed run picks the same one). A stage that needs no GPU (a build) falls back to a `cpu`
    host, then to any host; one that needs a GPU gets None when its track has no host."""
    track = ENTRY_TRACKS.get(entry_track or "", entry_track)
    candidates = [h for h in hosts if h.track == track]
    if not candidates and not gpu:
        candidates = [h for h in hosts if h.track == "cpu"] or list(hosts)
    if not candidates:
        return None
    spread = int.from_bytes(hashlib.sha256(entry_name.encode("utf-8")).digest()[:4], "big")
    return candidates[spread % len(candidates)]
