"""Leaderboards: every track scored, compared with the claimed results, with bootstrap intervals.

`evaluate_track` does the work for one track (scores, claimed scores, per-metric checks, bootstrap);
`document` turns the tracks into the versioned JSON both `repro-audit score` and a run's
`leaderboards/leaderboard.json` write; `entry_section` is one entry's part of its report. Markdown, CSV
and terminal renderers read the document only.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reports.markdown import cell as _md
from reports.markdown import number as _fmt
from reports.reproduction import (
    BootstrapResult,
    InstanceResults,
    MetricCheck,
    Tolerance,
    bootstrap,
    check_metric,
    claimed_scores,
)
from reports.scoring import Definition, Scheme, Table, TrackScores, score_track

SCHEMA_VERSION = 1
CLAIMABLE = ("rank", "score_full")
"""Keys a claimed entry may give directly (a published leaderboard's own figures), besides metric titles
and score_<set>."""


@dataclass(frozen=True)
class TrackInput:
    track: str
    table: Table  # entry -> metric title -> value
    instances: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # entry -> title -> instances
    per_instance: Mapping[str, InstanceResults] = field(default_factory=dict)
    claimed: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # entry -> title/score -> value
    claimed_elsewhere: int = 0  # entries the claims hold that this run does not: scores are not comparable


@dataclass(frozen=True)
class TrackResult:
    given: TrackInput
    scores: TrackScores
    claimed: TrackScores | None
    checks: dict[str, dict[str, MetricCheck]]  # entry -> metric title -> check
    bootstrap: BootstrapResult | None
    tolerance: Tolerance = field(default_factory=Tolerance)


@dataclass(frozen=True)
class Options:
    scheme: Scheme
    definition: Definition = Definition.COMPETITION
    tolerance: Tolerance = field(default_factory=Tolerance)
    replicates: int = 1000
    seed: int = 0


def evaluate_track(given: TrackInput, options: Options) -> TrackResult:
    scores = score_track(given.track, given.table, options.scheme, options.definition)
    claimed_table = {
        name: {k: v for k, v in claim.items() if isinstance(v, int | float) or v is None}
        for name, claim in given.claimed.items()
    }
    claimed = claimed_scores(scores, claimed_table) if given.claimed else None
    checks: dict[str, dict[str, MetricCheck]] = {}
    for entry in scores.entries:
        claim = given.claimed.get(entry.name)
        if claim is None:
            continue
        counts = given.instances.get(entry.name, {})
        checks[entry.name] = {
            metric.title: check_metric(
                entry.metrics.get(metric.title),
                _number(claim.get(metric.title)),
                stat=metric.stat,
                instances=counts.get(metric.title),
                tolerance=options.tolerance,
            )
            for metric in options.scheme.metrics
        }
    resampled = bootstrap(scores, given.table, given.per_instance, replicates=options.replicates, seed=options.seed)
    return TrackResult(given, scores, claimed, checks, resampled, options.tolerance)


def outside_tolerance(result: TrackResult) -> list[str]:
    """Entries with a metric or the final score outside its tolerance of the claimed value."""
    names = []
    for entry in result.scores.entries:
        if any(check.within is False for check in result.checks.get(entry.name, {}).values()):
            names.append(entry.name)
            continue
        section = entry_section(result, entry.name)
        if section and any(t["within"] is False for t in section["totals"] if t["name"] == "full"):
            names.append(entry.name)
    return names


def claimed_of(result: TrackResult, name: str) -> dict[str, Any] | None:
    """The claimed rank and scores of an entry: as the claim gives them, else computed from its claimed
    metrics like the reproduced ones. None for each when the claims were made among other entries than
    this run's (scores and ranks are relative to the field) or the entry claims no metric."""
    claim = result.given.claimed.get(name)
    if claim is None:
        return None
    keys = ["rank", *(f"score_{s.name}" for s in result.scores.scheme.sets), "score_full"]
    if result.given.claimed_elsewhere:
        return dict.fromkeys(keys)
    titles = {m.title for m in result.scores.scheme.metrics}
    computed = result.claimed.entry(name) if result.claimed and titles & set(claim) else None
    out: dict[str, Any] = {}
    for key in keys:
        given = claim.get(key)
        if isinstance(given, int | float) and not isinstance(given, bool):
            out[key] = int(given) if key == "rank" else given
        elif computed is not None:
            out[key] = computed.rank if key == "rank" else computed.score(key.removeprefix("score_"))
        else:
            out[key] = None
    return out


def document(
    results: list[TrackResult], options: Options, extras: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The leaderboards; `extras` adds per entry its verdict and the path of its report (a run's)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "definition": options.definition.value,
        "definition_title": options.definition.title,
        "scheme": options.scheme.name,
        "tracks": {result.scores.track: _track(result, extras or {}) for result in results},
    }


def _track(result: TrackResult, all_extras: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    scheme = result.scores.scheme
    entries = []
    for entry in result.scores.entries:
        claimed = claimed_of(result, entry.name)
        intervals = result.bootstrap.intervals.get(entry.name) if result.bootstrap else None
        extras = all_extras.get(entry.name, {})
        row: dict[str, Any] = {"name": entry.name, "rank": entry.rank}
        for s in scheme.sets:
            row[f"score_{s.name}"] = entry.sets.get(s.name)
        row["score_full"] = entry.full
        row["scenarios"] = {
            sc.title: {
                "set": sc.set,
                "mean_win_rate": entry.scenarios.get(sc.title),
                "metrics": {m.title: entry.metrics.get(m.title) for m in sc.metrics},
            }
            for sc in scheme.scenarios
        }
        row["claimed"] = claimed
        row["rank_change"] = _rank_change(claimed, entry.rank)
        row["intervals"] = (
            None
            if intervals is None
            else {
                **{f"score_{k}": _pair(v) for k, v in intervals.scores.items()},
                "rank": _pair(intervals.rank),
                "first_share": intervals.top_share,
            }
        )
        row["verdict"] = extras.get("verdict")
        row["report"] = extras.get("report")
        entries.append(row)
    notes = (
        list(result.scores.notes) + _claim_notes(result) + (list(result.bootstrap.notes) if result.bootstrap else [])
    )
    return {
        "entries": entries,
        "sets": {
            s.name: {"title": s.title, "weight": s.weight, "evaluated": s.name in result.scores.evaluated_sets}
            for s in scheme.sets
        },
        "replicates": result.bootstrap.replicates if result.bootstrap else 0,
        "note": "; ".join(notes) or None,
        "stability": result.bootstrap.stability(result.scores) if result.bootstrap else None,
    }


def entry_section(result: TrackResult, name: str) -> dict[str, Any] | None:
    """One entry's scores as its report shows them (report.json's "scores")."""
    entry = result.scores.entry(name)
    if entry is None:
        return None
    scheme = result.scores.scheme
    claimed = claimed_of(result, name) or {}
    intervals = result.bootstrap.intervals.get(name) if result.bootstrap else None
    checks = result.checks.get(name, {})
    counts = result.given.instances.get(name, {})
    totals = []
    for which, title in [*((s.name, s.title) for s in scheme.sets), ("full", "Final score")]:
        value, claim = entry.score(which), claimed.get(f"score_{which}")
        interval = intervals.scores.get(which) if intervals else None
        totals.append(
            {
                "name": which,
                "title": title,
                "value": value,
                "claimed": claim,
                "difference": None if value is None or claim is None else value - claim,
                "interval": _pair(interval),
                "within": _score_within(value, claim, interval, result),
            }
        )
    scenarios = []
    for sc in scheme.scenarios:
        metrics = []
        for metric in sc.metrics:
            check = checks.get(metric.title)
            metrics.append(
                {
                    "title": metric.title,
                    "lower_is_better": metric.lower_is_better,
                    "value": entry.metrics.get(metric.title),
                    "claimed": check.claimed if check else None,
                    "difference": check.difference if check else None,
                    "tolerance": check.tolerance if check else None,
                    "within": check.within if check else None,
                    "basis": check.basis if check else None,
                    "win_rate": entry.win_rates.get(metric.title),
                    "instances": counts.get(metric.title),
                }
            )
        scenarios.append(
            {"set": sc.set, "title": sc.title, "mean_win_rate": entry.scenarios.get(sc.title), "metrics": metrics}
        )
    notes = list(result.scores.notes) + _claim_notes(result)
    return {
        "track": result.scores.track,
        "scheme": scheme.name,
        "definition": result.scores.definition.value,
        "entries": len(result.scores.entries),
        "rank": entry.rank,
        "claimed_rank": claimed.get("rank"),
        "rank_change": _rank_change(claimed or None, entry.rank),
        "rank_interval": _pair(intervals.rank) if intervals else None,
        "first_share": intervals.top_share if intervals else None,
        "totals": totals,
        "scenarios": scenarios,
        "deviations": sorted(title for title, check in checks.items() if check.within is False),
        "stability": result.bootstrap.stability(result.scores) if result.bootstrap else None,
        "note": "; ".join(notes) or None,
    }


def _claim_notes(result: TrackResult) -> list[str]:
    if not result.given.claimed_elsewhere:
        return []
    return [
        f"the claimed results were made among {result.given.claimed_elsewhere} entr(y/ies) this run does not have: "
        "scores and ranks are relative to the field, so only the metrics are compared"
    ]


def _score_within(
    value: float | None, claim: float | None, interval: tuple[float, float] | None, result: TrackResult
) -> bool | None:
    if claim is None:
        return None
    if value is None:
        return False
    if interval is not None:
        return interval[0] - 1e-12 <= claim <= interval[1] + 1e-12
    return abs(value - claim) <= result.tolerance.score + 1e-12


def _rank_change(claimed: Mapping[str, Any] | None, rank: int | None) -> int | None:
    """Claimed rank minus reproduced rank: positive when the entry moved up."""
    if not claimed or not isinstance(claimed.get("rank"), int) or rank is None:
        return None
    return int(claimed["rank"]) - rank


def _pair(value: tuple[float, float] | tuple[int, int] | None) -> list[float] | None:
    return None if value is None else [value[0], value[1]]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


# ---- renderers --------------------------------------------------------------------------------------


def render_json(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _interval(value: list[float] | None, digits: int = 3) -> str:
    return "" if not value else f"[{_fmt(value[0], digits)}, {_fmt(value[1], digits)}]"


def _change(value: int | None) -> str:
    if not value:
        return "" if value is None else "="
    return f"▲{value}" if value > 0 else f"▼{-value}"


def rows(board: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per entry and track (for CSV and the terminal)."""
    out = []
    for track, body in board["tracks"].items():
        sets = list(body["sets"])
        for entry in body["entries"]:
            claimed = entry.get("claimed") or {}
            intervals = entry.get("intervals") or {}
            row: dict[str, Any] = {"track": track, "rank": entry["rank"], "name": entry["name"]}
            for which in [*sets, "full"]:
                row[f"score_{which}"] = entry.get(f"score_{which}")
                row[f"claimed_score_{which}"] = claimed.get(f"score_{which}")
            row["claimed_rank"] = claimed.get("rank")
            row["rank_change"] = entry.get("rank_change")
            row["rank_interval"] = _interval(intervals.get("rank"), 0) if intervals.get("rank") else ""
            row["score_full_interval"] = _interval(intervals.get("score_full"))
            row["verdict"] = (entry.get("verdict") or {}).get("status", "")
            for title, scenario in entry["scenarios"].items():
                row[f"win_rate {title}"] = scenario["mean_win_rate"]
            out.append(row)
    return out


def render_csv(board: dict[str, Any]) -> str:
    flat = rows(board)
    columns: list[str] = []
    for row in flat:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in flat:
        writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet must not run an entrant's name as a formula
    return value


def render_markdown(board: dict[str, Any]) -> str:
    lines = ["# Leaderboards", "", f"Scored with the {board['scheme']} scheme; win rate: {board['definition_title']}."]
    for track, body in board["tracks"].items():
        sets = [(name, s["title"]) for name, s in body["sets"].items()]
        lines += ["", f"## {_md(track)}", ""]
        header = ["rank", "entry", "verdict"]
        for _name, title in [*sets, ("full", "Final")]:
            header += [title, "claimed"]
        header += ["rank change", "rank 95%"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for entry in body["entries"]:
            claimed = entry.get("claimed") or {}
            intervals = entry.get("intervals") or {}
            cells = [_fmt(entry["rank"]), _md(entry["name"]), (entry.get("verdict") or {}).get("status", "")]
            for name, _title in [*sets, ("full", "Final")]:
                cells += [_fmt(entry.get(f"score_{name}")), _fmt(claimed.get(f"score_{name}"))]
            cells += [_change(entry.get("rank_change")), _interval(intervals.get("rank"), 0)]
            lines.append("| " + " | ".join(cells) + " |")
        for key in ("note", "stability"):
            if body.get(key):
                lines += ["", f"{key.capitalize()}: {_md(body[key])}."]
        titles = list(body["entries"][0]["scenarios"]) if body["entries"] else []
        if titles:
            lines += ["", "Mean win rate per scenario:", ""]
            lines += ["| entry | " + " | ".join(_md(t) for t in titles) + " |", "|---|" + "---|" * len(titles)]
            for entry in body["entries"]:
                cells = [_fmt(entry["scenarios"][t]["mean_win_rate"]) for t in titles]
                lines.append(f"| {_md(entry['name'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_terminal(board: dict[str, Any], console: Any) -> None:
    from rich.table import Table as RichTable

    console.print(f"Win rate: {board['definition_title']}; scheme {board['scheme']}.", markup=False)
    for track, body in board["tracks"].items():
        sets = [(name, s["title"]) for name, s in body["sets"].items()]
        table = RichTable(title=f"{track}", title_justify="left")
        for column in ["rank", "entry", *(t for _n, t in sets), "final", "claimed", "change", "rank 95%"]:
            table.add_column(column, overflow="fold")
        for entry in body["entries"]:
            claimed = entry.get("claimed") or {}
            intervals = entry.get("intervals") or {}
            table.add_row(
                _fmt(entry["rank"]),
                entry["name"],
                *(_fmt(entry.get(f"score_{n}")) for n, _t in sets),
                _fmt(entry.get("score_full")),
                _fmt(claimed.get("score_full")),
                _change(entry.get("rank_change")),
                _interval(intervals.get("rank"), 0),
            )
        console.print(table)
        for key in ("note", "stability"):
            if body.get(key):
                console.print(f"{key}: {body[key]}", markup=False)
