"""The organizers' overrides file: what the competition's rules leave to each entry (where its training
writes, where its server reads the weights, which evaluation set), and limits an organizer changes for
one entry or for a whole archive (`repro-audit run --overrides FILE`; an `overrides.toml` at the root of
the archive is read when no file is given).

    [defaults]                          # every entry
    eval-conf = "open"                  # open | closed | coarse, or a HELM conf file (relative to this file)
    train-output = "/output"            # where the training container writes its weights
    weights = "/weights"                # where the inference container gets them (read-only); unset: not mounted
    memory = "40g"                      # instead of the host profile's memory limit
    train-timeout = "24h"               # instead of the host profile's limits
    eval-timeout = "300m"
    health-delay = "120s"               # the organizers waited 120 s, then POSTed up to 10 times, 120 s apart
    health-interval = "120s"
    health-attempts = 10
    max-eval-instances = 100            # for conf entries without a cap of their own (the shipped sets have caps)
    helm-threads = 30                   # helm-run -n
    train-dockerfile = "train/Dockerfile"       # when the roles cannot be told from the names
    inference-dockerfile = "Dockerfile"

    [entries."A100/alice/llm"]          # one entry, by its name in the run
    train-output = "/workspace/out"

Entries never read this file from their own tree: it belongs to whoever runs the audit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from audit.config import TomlFileError, read_toml
from rebuild.hosts import parse_duration, parse_memory

FILE_NAME = "overrides.toml"  # looked for at the root of a folder archive
COMPETITION_HEALTH_DELAY = 120.0
COMPETITION_HEALTH_INTERVAL = 120.0
COMPETITION_HEALTH_ATTEMPTS = 10


class OverridesError(Exception):
    """An overrides file that cannot be used; the message names the file, the table and the key."""


@dataclass(frozen=True)
class EntrySettings:
    eval_conf: str | None = None  # open | closed | coarse | an absolute conf path; None: open
    train_output: str = "/output"
    weights: str | None = None
    memory: int | None = None  # bytes; None: the host profile's
    train_timeout: float | None = None  # seconds; None: the host profile's
    eval_timeout: float | None = None
    health_delay: float = COMPETITION_HEALTH_DELAY
    health_interval: float = COMPETITION_HEALTH_INTERVAL
    health_attempts: int = COMPETITION_HEALTH_ATTEMPTS
    max_eval_instances: int | None = None
    helm_threads: int = 30
    train_dockerfile: str | None = None
    inference_dockerfile: str | None = None


@dataclass(frozen=True)
class Overrides:
    defaults: EntrySettings = field(default_factory=EntrySettings)
    entries: tuple[tuple[str, EntrySettings], ...] = ()
    source: str | None = None  # the file they came from

    def for_entry(self, name: str) -> EntrySettings:
        return dict(self.entries).get(name, self.defaults)


_KEYS = {f.name.replace("_", "-"): f.name for f in fields(EntrySettings)}
_DURATIONS = {"train_timeout", "eval_timeout", "health_delay", "health_interval"}
_COUNTS = {"health_attempts": (1, 1000), "max_eval_instances": (1, 1_000_000), "helm_threads": (1, 256)}
_PATHS_INSIDE = {"train_output", "weights"}
_ENTRY_PATHS = {"train_dockerfile", "inference_dockerfile"}


def load_overrides(path: Path) -> Overrides:
    try:
        data = read_toml(path, "overrides file")
    except TomlFileError as exc:
        raise OverridesError(str(exc)) from None
    return parse_overrides(data, str(path), base=path.resolve().parent)


def parse_overrides(data: dict[str, Any], source: str, *, base: Path) -> Overrides:
    unknown = sorted(set(data) - {"defaults", "entries"})
    if unknown:
        raise OverridesError(f'{source}: unknown table {unknown[0]!r}: use [defaults] and [entries."NAME"]')
    defaults = _settings(data.get("defaults", {}), EntrySettings(), f"{source}: [defaults]", base)
    entries = data.get("entries", {})
    if not isinstance(entries, dict):
        raise OverridesError(f'{source}: entries must be tables: [entries."A100/user/repo"]')
    per_entry = tuple(
        (name, _settings(table, defaults, f'{source}: [entries."{name}"]', base)) for name, table in entries.items()
    )
    return Overrides(defaults, per_entry, source)


def _settings(table: Any, start: EntrySettings, where: str, base: Path) -> EntrySettings:
    if not isinstance(table, dict):
        raise OverridesError(f"{where} must be a table")
    changes: dict[str, Any] = {}
    for key, value in table.items():
        name = _KEYS.get(key)
        if name is None:
            raise OverridesError(f"{where}: unknown key {key!r} (known keys: {', '.join(sorted(_KEYS))})")
        try:
            changes[name] = _value(name, value, base)
        except ValueError as exc:
            raise OverridesError(f"{where}: {key}: {exc}") from None
    return replace(start, **changes)


def _value(name: str, value: Any, base: Path) -> Any:
    if name in _DURATIONS:
        return parse_duration(value)
    if name == "memory":
        return parse_memory(value)
    if name in _COUNTS:
        low, high = _COUNTS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}, not {value!r}")
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, not {value!r}")
    if name in _PATHS_INSIDE:
        if not value.startswith("/") or ":" in value or "\0" in value:
            raise ValueError(f"must be an absolute path inside the container (e.g. /output), not {value!r}")
        return value
    if name in _ENTRY_PATHS:
        if value.startswith("/") or ".." in Path(value).parts:
            raise ValueError(f"must be a path inside the entry (e.g. train/Dockerfile), not {value!r}")
        return Path(value).as_posix()
    # eval_conf: a named evaluation set, or a conf file relative to the overrides file
    if value in ("open", "closed", "coarse"):
        return value
    conf = (base / value).resolve()
    if not conf.is_file():
        raise ValueError(f"{value!r} is neither open, closed, coarse nor a conf file ({conf} does not exist)")
    from rebuild.helm import ConfError, descriptions_of

    try:  # said now, not after hours of building and training
        descriptions_of(conf)
    except ConfError as exc:
        raise ValueError(str(exc)) from None
    return str(conf)
