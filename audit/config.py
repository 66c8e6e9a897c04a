"""`[tool.repro-audit]` settings: which rules run, severity overrides, ignored paths, build contexts.

Read from the audited repository's `pyproject.toml`, or from `--config FILE` (a TOML file holding
either a `[tool.repro-audit]` table or the keys at top level), which then applies to every entry.
Unknown keys and bad values are a `ConfigError` naming the key and what is allowed: for `--config` the
run stops (exit code 2); for an audited repository's own table the engine reports it on that entry
(RA008) and audits the entry with defaults, so one entrant's typo cannot stop a whole archive.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pathspec

from audit.fix.cutoff import CutoffError, parse_moment
from audit.model import Severity
from audit.tree import DEFAULT_MAX_FILE_BYTES

DEFAULT_SECRET_MAX_FILE_BYTES = 64 * 1024 * 1024
"""Files larger than this are not searched for secrets (and are reported as such, RA911)."""


class ConfigError(Exception):
    """A configuration problem the user must fix; the message says where and how.

    `detail` is the message without its source, `key` the top-level key at fault when there is one.
    """

    def __init__(self, message: str, *, detail: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message
        self.key = key


def _error(source: str, detail: str, key: str | None = None) -> ConfigError:
    return ConfigError(f"{source}: {detail}", detail=detail, key=key)


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] = ()  # rule ids, id prefixes or family names; empty = all
    ignore: tuple[str, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)
    ignore_paths: tuple[str, ...] = ()
    contexts: dict[str, str] = field(default_factory=dict)  # Dockerfile path -> context path
    fail_on: Severity | None = None
    track: str | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    secret_max_file_bytes: int = DEFAULT_SECRET_MAX_FILE_BYTES
    build_args: dict[str, str] = field(default_factory=dict)  # given to every build of the entry
    deadline: datetime | None = None  # `fix`: the submission deadline, the default cut-off (UTC)
    index_url: str | None = None  # `fix`: the package index Python dependencies are resolved against
    python_version: str | None = None  # `fix`: the Python of the images, when their base does not tell
    source: str | None = None  # where it was read from, for the report

    def path_ignored(self, path: str) -> bool:
        return bool(self.ignore_paths) and self._path_spec.match_file(path)

    @property
    def _path_spec(self) -> pathspec.GitIgnoreSpec:
        cached: pathspec.GitIgnoreSpec | None = self.__dict__.get("_spec")
        if cached is None:
            cached = pathspec.GitIgnoreSpec.from_lines(self.ignore_paths)
            object.__setattr__(self, "_spec", cached)
        return cached


KEYS = (
    "select", "ignore", "severity", "ignore-paths", "contexts", "fail-on", "track", "max-file-bytes",
    "secret-max-file-bytes", "build-args", "deadline", "index-url", "python-version",
)  # fmt: skip


class TomlFileError(ValueError):
    """A TOML file given on the command line that cannot be read; the message names it and says why."""


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The tables of a TOML file the user named (`what` says which kind, for the message): the one reader
    of --config, --hosts and --overrides files."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TomlFileError(f"cannot read the {what} {path}: it does not exist") from None
    except IsADirectoryError:
        raise TomlFileError(f"the {what} {path} is a folder: give a TOML file") from None
    except OSError as exc:
        raise TomlFileError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TomlFileError(f"{path} is not a UTF-8 text file: give a TOML {what}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TomlFileError(f"{path} is not valid TOML: {exc}") from None


def load_file(path: Path) -> Config:
    """A `--config` file: `[tool.repro-audit]` table or top-level keys."""
    try:
        data = read_toml(path, "config file")
    except TomlFileError as exc:
        raise ConfigError(str(exc)) from None
    table = data.get("tool", {}).get("repro-audit", data) if isinstance(data.get("tool"), dict) else data
    return from_table(table, str(path))


def from_pyproject_text(text: str, source: str) -> Config | None:
    """The `[tool.repro-audit]` table of a pyproject.toml, None when there is none.

    A pyproject.toml that is not valid TOML is not a config error here: it is reported as a finding
    of the entry (the audit goes on with defaults).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    tool = data.get("tool")
    if not isinstance(tool, dict) or "repro-audit" not in tool:
        return None
    return from_table(tool["repro-audit"], f"{source} [tool.repro-audit]")


def from_table(table: Any, source: str) -> Config:
    if not isinstance(table, dict):
        raise _error(source, "[tool.repro-audit] must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise _error(source, f"unknown key {unknown[0]!r} (known keys: {', '.join(KEYS)})", unknown[0])
    severity: dict[str, Severity] = {}
    for selector, value in _table(table, "severity", source).items():
        try:
            severity[selector] = Severity.parse(str(value))
        except ValueError as exc:
            raise _error(source, f"severity.{selector}: {exc}", "severity") from None
    fail_on = None
    if "fail-on" in table:
        try:
            fail_on = Severity.parse(str(table["fail-on"]))
        except ValueError as exc:
            raise _error(source, f"fail-on: {exc}", "fail-on") from None
    max_bytes = _byte_count(table, "max-file-bytes", DEFAULT_MAX_FILE_BYTES, source)
    secret_max_bytes = _byte_count(table, "secret-max-file-bytes", DEFAULT_SECRET_MAX_FILE_BYTES, source)
    contexts = {str(k).strip("/"): str(v).strip("/") or "." for k, v in _table(table, "contexts", source).items()}
    build_args = {}
    for name, value in _table(table, "build-args", source).items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _error(source, f"build-args.{name} must be a string or a number", "build-args")
        build_args[str(name)] = str(value)
    track = table.get("track")
    if track is not None and not isinstance(track, str):
        raise _error(source, 'track must be a string such as "A100" or "4090"', "track")
    deadline = None
    if "deadline" in table:
        try:
            deadline = parse_moment(table["deadline"], "deadline")
        except CutoffError as exc:
            raise _error(source, str(exc), "deadline") from None
    index_url = table.get("index-url")
    if index_url is not None and (not isinstance(index_url, str) or not index_url.startswith(("https://", "http://"))):
        raise _error(source, 'index-url must be an http(s) URL such as "https://pypi.org/simple"', "index-url")
    python_version = table.get("python-version")
    if python_version is not None and (
        not isinstance(python_version, str) or not re.fullmatch(r"3\.\d{1,2}", python_version)
    ):
        raise _error(source, 'python-version must be a string such as "3.10"', "python-version")
    return Config(
        select=_strings(table, "select", source),
        ignore=_strings(table, "ignore", source),
        severity=severity,
        ignore_paths=_strings(table, "ignore-paths", source),
        contexts=contexts,
        fail_on=fail_on,
        track=track,
        max_file_bytes=max_bytes,
        secret_max_file_bytes=secret_max_bytes,
        build_args=build_args,
        deadline=deadline,
        index_url=index_url,
        python_version=python_version,
        source=source,
    )


def _byte_count(table: dict[str, Any], key: str, default: int, source: str) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1024:
        raise _error(source, f"{key} must be a whole number of bytes, at least 1024", key)
    return value


def _strings(table: dict[str, Any], key: str, source: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error(source, f"{key} must be a list of strings", key)
    return tuple(value)


def _table(table: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise _error(source, f'{key} must be a table, e.g. {key} = {{ RA102 = "info" }}', key)
    return value


def selector_matches(selector: str, rule_id: str, family: str) -> bool:
    """A selector names a family (`host-local`), a rule id (`RA501`) or an id prefix (`RA5`)."""
    selector = selector.strip()
    return selector == family or (rule_id.upper().startswith(selector.upper()) and selector[:2].upper() == "RA")
