"""What the scoring reads: a metrics file, a claimed-results file, or a run folder's eval stage results.

A metrics or claimed file is JSON: an object of entry name -> {metric title -> number or null}, null
meaning missing. A file holding several tracks nests them: {"tracks": {"A100": {entry: {...}}, ...}}.
A claimed entry may also give a published leaderboard's own figures: `rank`, `score_full`,
`score_<set>`. Anything else that is not a metric of the scheme is reported, not silently dropped.

From a run folder, each entry's metrics are its finished HELM runs' statistics mapped to the scheme's
titles (scoring.table_from_runs), with the number of instances behind each metric (for the tolerance)
and the per-instance values (for the bootstrap). The scheme is the one found next to the evaluation
conf the entries used (`scheme.toml`), else the competition's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.runner.state import State
from reports.leaderboard import Options, TrackInput, TrackResult, evaluate_track
from reports.reproduction import InstanceResults, Tolerance
from reports.scoring import Definition, Scheme, SchemeError, competition_scheme, load_scheme, table_from_runs

SCHEME_FILE = "scheme.toml"
DEFAULT_TRACK = "all"


class ScoreInputError(Exception):
    """A metrics or claimed file that cannot be read; the message says what to change."""


@dataclass
class TrackData:
    table: dict[str, dict[str, float | None]] = field(default_factory=dict)
    instances: dict[str, dict[str, int]] = field(default_factory=dict)
    per_instance: dict[str, InstanceResults] = field(default_factory=dict)


def load_values(path: Path, what: str, *, track: str | None, scheme: Scheme, claimed: bool = False) -> tuple[
    dict[str, dict[str, dict[str, Any]]], list[str]
]:  # fmt: skip
    """track -> entry -> title -> value from a metrics (or claimed) file, and warnings to show."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScoreInputError(f"cannot read the {what} {path}: it does not exist") from None
    except IsADirectoryError:
        raise ScoreInputError(f"the {what} {path} is a folder: give a JSON file") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ScoreInputError(f"{path} is not JSON ({exc}): give the {what} as a JSON object") from None
    except OSError as exc:
        raise ScoreInputError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise ScoreInputError(f"{path}: the {what} must be a JSON object of entry name -> {{metric title: value}}")
    nested = data.get("tracks")
    tracks: dict[str, Any] = nested if isinstance(nested, dict) else {track or DEFAULT_TRACK: data}
    if track is not None and isinstance(nested, dict):
        tracks = {name: body for name, body in tracks.items() if name == track}
    titles = {m.title for m in scheme.metrics}
    extra_keys = {"rank", "score_full", *(f"score_{s.name}" for s in scheme.sets)} if claimed else set()
    unknown: set[str] = set()
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for track_name, entries in tracks.items():
        if not isinstance(entries, dict):
            raise ScoreInputError(f"{path}: track {track_name!r} must be an object of entry name -> metrics")
        for entry, metrics in entries.items():
            if not isinstance(metrics, dict):
                raise ScoreInputError(f"{path}: entry {entry!r} must be an object of metric title -> number or null")
            values: dict[str, Any] = {}
            for title, value in metrics.items():
                if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                    raise ScoreInputError(
                        f"{path}: {entry!r} {title!r} is {json.dumps(value)}: give a number, or null for missing"
                    )
                if isinstance(value, float) and not math.isfinite(value):
                    raise ScoreInputError(f"{path}: {entry!r} {title!r} is not a finite number")
                if title not in titles and title not in extra_keys:
                    unknown.add(title)
                    continue
                values[title] = value
            out.setdefault(str(track_name), {})[str(entry)] = values
    warnings = []
    if unknown:
        shown = ", ".join(sorted(unknown)[:8]) + (" ..." if len(unknown) > 8 else "")
        warnings.append(
            f"{path}: {len(unknown)} title(s) are not metrics of the {scheme.name} scheme, ignored: {shown}"
        )
    return out, warnings


def scheme_of_run(state: State, configured: Path | None = None) -> Scheme:
    """The scheme a run is scored with: the one named, else the scheme.toml next to the evaluation conf
    every evaluated entry used, else the competition's."""
    if configured is not None:
        return load_scheme(configured)
    found = {
        Path(conf["path"]).parent / SCHEME_FILE
        for row in state.stages()
        if row.stage == "eval" and isinstance(conf := row.data.get("conf"), dict) and conf.get("path")
    }
    files = {path for path in found if path.is_file()}
    if len(files) == 1:
        return load_scheme(files.pop())
    if len(files) > 1:
        raise SchemeError(
            f"the entries were evaluated with sets scored differently ({', '.join(map(str, sorted(files)))}): "
            "give --scheme FILE"
        )
    return competition_scheme()


def tracks_of_run(state: State, scheme: Scheme, track: str | None = None) -> dict[str, TrackData]:
    """Per track, every entry's metrics from its eval stage (an entry never evaluated has them all
    missing: it takes part in its track's win rates, as a failed entry did in the competition)."""
    tracks: dict[str, TrackData] = {}
    for entry in state.entries():
        name, entry_track = entry.name, entry.track or DEFAULT_TRACK
        if track is not None and entry_track != track:
            continue
        data = tracks.setdefault(entry_track, TrackData())
        row = state.stage(name, "eval")
        runs = [r for r in (row.data.get("runs") or []) if r.get("finished")] if row is not None else []
        data.table[name] = table_from_runs(scheme, {r["name"]: r.get("metrics") or {} for r in runs})
        data.instances[name] = _instances(scheme, runs)
        per_instance = {r["name"]: r["per_instance"] for r in runs if r.get("per_instance")}
        if per_instance:
            data.per_instance[name] = InstanceResults(per_instance)
    return tracks


def _instances(scheme: Scheme, runs: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for metric in scheme.metrics:
        total = sum(int(r.get("instances") or 0) for r in runs if metric.matches(r["name"]))
        if total:
            counts[metric.title] = total
    return counts


@dataclass(frozen=True)
class Settings:
    """How to score, as the command line gives it (`score`, `run` and `report` share it)."""

    scheme_file: Path | None = None
    claimed_file: Path | None = None
    definition: Definition = Definition.COMPETITION
    tolerance: Tolerance = field(default_factory=Tolerance)
    replicates: int = 1000
    seed: int = 0


def score_run(
    state: State, settings: Settings, track: str | None = None
) -> tuple[list[TrackResult], Options, list[str]]:
    """Every track of a run scored, with the claimed results compared; and warnings to show."""
    scheme = scheme_of_run(state, settings.scheme_file)
    tracks = tracks_of_run(state, scheme, track)
    return score_tracks(tracks, scheme, settings)


def score_tracks(
    tracks: dict[str, TrackData], scheme: Scheme, settings: Settings
) -> tuple[list[TrackResult], Options, list[str]]:
    options = Options(scheme, settings.definition, settings.tolerance, settings.replicates, settings.seed)
    warnings: list[str] = []
    claims: dict[str, dict[str, Any]] = {}
    strangers: list[str] = []
    if settings.claimed_file is not None:
        claimed, warnings = load_values(
            settings.claimed_file, "claimed results", track=None, scheme=scheme, claimed=True
        )
        claims = {entry: values for entries in claimed.values() for entry, values in entries.items()}
        known = {name for data in tracks.values() for name in data.table}
        strangers = sorted(set(claims) - known)
        if strangers:
            warnings.append(
                f"{settings.claimed_file}: {len(strangers)} claimed entr(y/ies) not among the scored ones, ignored: "
                + ", ".join(strangers[:8])
            )
    results = []
    for name, data in sorted(tracks.items()):
        given = TrackInput(
            track=name,
            table=data.table,
            instances=data.instances,
            per_instance=data.per_instance,
            claimed={entry: claims[entry] for entry in data.table if entry in claims},
            claimed_elsewhere=len(strangers),
        )
        results.append(evaluate_track(given, options))
    return results, options, warnings
