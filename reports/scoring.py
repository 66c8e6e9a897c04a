"""The competition's scoring: win rates, scenario means, geometric means, final scores and ranks.

Pure functions over a table of metric values (entry -> metric title -> value or None). The default is
the NeurIPS 2023 LLM Efficiency Challenge's own definition:

- win rate of entry i on one metric among the n entries of the track: 1 for every other entry whose
  value i beats strictly, 1/(c(c-1)) for every other entry with the same value (c entries share it),
  the sum divided by n (not n-1); a missing value counts as 0.0 (higher is better) or 1000.0 (lower is
  better);
- a scenario's mean win rate is the arithmetic mean over its metrics; a set's score is the geometric
  mean of its scenarios' mean win rates, a zero replaced by the smallest positive normal float
  (`sys.float_info.min`); the final score weighs the sets (1/3 open, 2/3 hidden).

`HELM` is HELM's own mean win rate (helm-summarize's): ties count half, the sum is divided by n-1 over
the entries that have a value, missing values are skipped, a metric fewer than two entries have is left
out. Win rates are computed from integer counts, so a hand-computed table is reproduced to the last bit.

Written here rather than taken from HELM: its implementation is the second definition only, works on
its own table objects, and is not importable without HELM's 2 GB of dependencies.
"""

from __future__ import annotations

import functools
import math
import statistics
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

from audit.config import TomlFileError, read_toml

MISSING_HIGHER_IS_BETTER = 0.0
MISSING_LOWER_IS_BETTER = 1000.0
SMALLEST = sys.float_info.min
"""What a zero scenario mean win rate becomes before the geometric mean (a log of zero is undefined)."""

Table = Mapping[str, Mapping[str, float | None]]
"""Entry name -> metric title -> value (None: missing)."""


class Definition(Enum):
    COMPETITION = "competition"
    HELM = "helm"

    @property
    def title(self) -> str:
        if self is Definition.COMPETITION:
            return "the competition's win rate (ties 1/(c(c-1)) each, divided by n, missing values worst)"
        return "HELM's mean win rate (ties count half, divided by n-1, missing values skipped)"


class SchemeError(Exception):
    """A scoring scheme file that cannot be used; the message says what to change."""


# ---- the scheme: what is scored --------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    title: str  # the summary table's column title, "MMLU - EM"
    stat: str  # HELM's statistic, "exact_match (robustness)"
    runs: str  # HELM's scenario name, the first word of a run's name
    args: tuple[tuple[str, str], ...] = ()  # run arguments that must match too
    lower_is_better: bool = False

    def matches(self, run_name: str) -> bool:
        return _matches(self.runs, self.args, run_name)


@dataclass(frozen=True)
class Scenario:
    title: str
    set: str
    metrics: tuple[Metric, ...]


@dataclass(frozen=True)
class ScoreSet:
    name: str  # "open", "hidden": the JSON key is score_<name>
    title: str
    weight: float  # normalised over the scheme's sets


@dataclass(frozen=True)
class Scheme:
    name: str
    title: str
    sets: tuple[ScoreSet, ...]
    scenarios: tuple[Scenario, ...]

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return tuple(metric for scenario in self.scenarios for metric in scenario.metrics)

    def metric(self, title: str) -> Metric | None:
        return next((m for m in self.metrics if m.title == title), None)


@functools.lru_cache(maxsize=65536)
def _matches(runs: str, wanted: tuple[tuple[str, str], ...], run_name: str) -> bool:
    scenario, args = parse_run_name(run_name)
    return scenario == runs and all(args.get(key) == value for key, value in wanted)


def competition_scheme() -> Scheme:
    """The NeurIPS 2023 LLM Efficiency Challenge's scheme (reports/schemes/neurips-2023.toml)."""
    text = resources.files("reports").joinpath("schemes/neurips-2023.toml").read_text(encoding="utf-8")
    import tomllib

    return scheme_from_table(tomllib.loads(text), "neurips-2023.toml")


def load_scheme(path: Path) -> Scheme:
    try:
        table = read_toml(path, "scoring scheme")
    except TomlFileError as exc:
        raise SchemeError(str(exc)) from None
    return scheme_from_table(table, str(path))


def scheme_from_table(table: dict[str, Any], where: str) -> Scheme:
    def fail(message: str) -> SchemeError:
        return SchemeError(f"{where}: {message} (see reports/schemes/neurips-2023.toml for the layout)")

    sets_table = table.get("sets")
    if not isinstance(sets_table, dict) or not sets_table:
        raise fail("no [sets.NAME] table: name at least one set with its weight")
    weights: dict[str, tuple[str, float]] = {}
    for name, entry in sets_table.items():
        weight = entry.get("weight") if isinstance(entry, dict) else None
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            raise fail(f"[sets.{name}] needs a positive number `weight`")
        weights[name] = (str(entry.get("title") or name), float(weight))
    total = math.fsum(w for _title, w in weights.values())
    sets = tuple(ScoreSet(name, title, weight / total) for name, (title, weight) in weights.items())
    scenarios = []
    seen: set[str] = set()
    raw = table.get("scenarios")
    if not isinstance(raw, list) or not raw:
        raise fail("no [[scenarios]]: list the scored scenarios")
    for index, item in enumerate(raw, 1):
        if not isinstance(item, dict) or not isinstance(item.get("title"), str):
            raise fail(f"scenario {index} needs a `title`")
        title = item["title"]
        if item.get("set") not in weights:
            raise fail(f"scenario {title!r}: `set` must be one of {', '.join(weights)}")
        metrics = []
        for metric in item.get("metrics") or []:
            if not isinstance(metric, dict) or not all(isinstance(metric.get(k), str) for k in ("title", "stat")):
                raise fail(f"scenario {title!r}: each metric needs a `title` and a `stat`")
            runs = metric.get("runs", item.get("runs"))
            if not isinstance(runs, str) or not runs:
                raise fail(f"metric {metric['title']!r}: `runs` (HELM's scenario name) is missing")
            args = metric.get("args", item.get("args")) or {}
            if not isinstance(args, dict):
                raise fail(f"metric {metric['title']!r}: `args` must be a table")
            if metric["title"] in seen:
                raise fail(f"metric {metric['title']!r} is listed twice")
            seen.add(metric["title"])
            metrics.append(
                Metric(
                    title=metric["title"],
                    stat=metric["stat"],
                    runs=runs,
                    args=tuple((str(k), str(v)) for k, v in args.items()),
                    lower_is_better=bool(metric.get("lower_is_better", False)),
                )
            )
        if not metrics:
            raise fail(f"scenario {title!r} has no metrics")
        scenarios.append(Scenario(title, item["set"], tuple(metrics)))
    return Scheme(str(table.get("name") or where), str(table.get("title") or ""), sets, tuple(scenarios))


def parse_run_name(run_name: str) -> tuple[str, dict[str, str]]:
    """HELM's scenario name and the arguments of a run's name: "mmlu:subject=anatomy,model=x" and
    "custom_mcqa,path=a.jsonl,method=m:model=x" (HELM moves model= last) both parse."""
    scenario, args = _parsed(run_name)
    return scenario, dict(args)


@functools.lru_cache(maxsize=4096)
def _parsed(run_name: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    # cached: every metric asks of every run, in every resample of the bootstrap
    pieces = run_name.replace(":", ",").split(",")
    return pieces[0], tuple((k, v) for k, v in (p.split("=", 1) for p in pieces[1:] if "=" in p))


def table_from_runs(scheme: Scheme, runs: Mapping[str, Mapping[str, float]]) -> dict[str, float | None]:
    """One entry's scored metrics from its finished HELM runs (run name -> statistic -> value): each
    metric is the mean over the runs it matches, None when no run has it."""
    values: dict[str, float | None] = {}
    for metric in scheme.metrics:
        found = [stats[metric.stat] for name, stats in runs.items() if metric.matches(name) and metric.stat in stats]
        values[metric.title] = math.fsum(found) / len(found) if found else None
    return values


# ---- the math ---------------------------------------------------------------------------------------


def win_rates(
    values: Sequence[float | None], *, lower_is_better: bool, definition: Definition = Definition.COMPETITION
) -> list[float | None]:
    """Each entry's win rate on one metric (None: HELM's definition leaves it out)."""
    if definition is Definition.HELM:
        return _helm_win_rates(values, lower_is_better)
    missing = MISSING_LOWER_IS_BETTER if lower_is_better else MISSING_HIGHER_IS_BETTER
    filled = [missing if v is None else v for v in values]
    n = len(filled)
    counts = Counter(filled)
    worse = _strictly_worse(filled, lower_is_better)
    rates: list[float | None] = []
    for value in filled:
        c = counts[value]
        # (worse + (c-1) * 1/(c(c-1))) / n == (worse*c + 1) / (c*n) when c > 1; exact integer ratio
        rates.append((worse[value] * c + 1) / (c * n) if c > 1 else worse[value] / n)
    return rates


def _helm_win_rates(values: Sequence[float | None], lower_is_better: bool) -> list[float | None]:
    present = [v for v in values if v is not None]
    m = len(present)
    if m < 2:
        return [None] * len(values)
    counts = Counter(present)
    worse = _strictly_worse(present, lower_is_better)
    # (worse + (c-1)/2) / (m-1) as one exact integer ratio
    return [None if v is None else (2 * worse[v] + counts[v] - 1) / (2 * (m - 1)) for v in values]


def _strictly_worse(values: list[float], lower_is_better: bool) -> dict[float, int]:
    """For each distinct value, how many of `values` it strictly beats."""
    ordered = sorted(Counter(values).items(), reverse=lower_is_better)  # worst first
    beaten, below = {}, 0
    for value, count in ordered:
        beaten[value] = below
        below += count
    return beaten


def mean(rates: Sequence[float | None]) -> float | None:
    present = [r for r in rates if r is not None]
    return math.fsum(present) / len(present) if present else None


def geometric_mean(values: Sequence[float | None]) -> float | None:
    """The geometric mean of the scenario mean win rates that exist, a zero counted as SMALLEST."""
    present = [max(v, SMALLEST) for v in values if v is not None]
    if not present:
        return None
    if len(set(present)) == 1:
        return present[0]  # exp(log(x)) is not always x to the last bit
    return statistics.geometric_mean(present)


# ---- a track's scores ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryScore:
    name: str
    rank: int | None
    metrics: dict[str, float | None]  # title -> value as given
    win_rates: dict[str, float | None]  # title -> win rate
    scenarios: dict[str, float | None]  # scenario title -> mean win rate
    sets: dict[str, float | None]  # set name -> score
    full: float | None

    def score(self, which: str) -> float | None:
        return self.full if which == "full" else self.sets.get(which)


@dataclass(frozen=True)
class TrackScores:
    track: str
    scheme: Scheme
    definition: Definition
    entries: tuple[EntryScore, ...]  # by rank
    evaluated_sets: tuple[str, ...]  # sets at least one entry has a value in
    notes: tuple[str, ...] = field(default=())

    def entry(self, name: str) -> EntryScore | None:
        return next((e for e in self.entries if e.name == name), None)


def score_track(
    track: str, table: Table, scheme: Scheme, definition: Definition = Definition.COMPETITION
) -> TrackScores:
    """Scores and ranks of every entry of one track. A set no entry has a single value in is left out of
    the final score (its weight goes to the others, and a note says so): a run that evaluated the open
    set only ranks by the open set instead of giving every entry the same near-zero hidden score."""
    names = sorted(table)
    rates: dict[str, dict[str, float | None]] = {name: {} for name in names}
    for metric in scheme.metrics:
        column = [table[name].get(metric.title) for name in names]
        for name, rate in zip(
            names, win_rates(column, lower_is_better=metric.lower_is_better, definition=definition), strict=True
        ):
            rates[name][metric.title] = rate
    evaluated = tuple(
        s.name
        for s in scheme.sets
        if any(table[name].get(m.title) is not None for name in names for m in _set_metrics(scheme, s.name))
    )
    notes = []
    skipped = [s for s in scheme.sets if s.name not in evaluated]
    if skipped and evaluated:
        notes.append(
            f"no entry of the track has a value in the {', '.join(s.title.lower() for s in skipped)}: the final "
            f"score is the {', '.join(s.title.lower() for s in scheme.sets if s.name in evaluated)} alone"
        )
    weight = math.fsum(s.weight for s in scheme.sets if s.name in evaluated)
    unranked = []
    for name in names:
        scenario_rates = {sc.title: mean([rates[name][m.title] for m in sc.metrics]) for sc in scheme.scenarios}
        sets = {
            s.name: geometric_mean([scenario_rates[sc.title] for sc in scheme.scenarios if sc.set == s.name])
            if s.name in evaluated
            else None
            for s in scheme.sets
        }
        parts = [(s.weight, sets[s.name]) for s in scheme.sets if s.name in evaluated]
        full = None
        if parts and all(v is not None for _w, v in parts):
            full = math.fsum(w * v for w, v in parts if v is not None) / weight
        metrics = {m.title: table[name].get(m.title) for m in scheme.metrics}
        unranked.append(EntryScore(name, None, metrics, rates[name], scenario_rates, sets, full))
    ranked = rank(unranked)
    return TrackScores(track, scheme, definition, ranked, evaluated, tuple(notes))


def rank(entries: Sequence[EntryScore]) -> tuple[EntryScore, ...]:
    """Sorted by final score, higher first; equal scores share a rank (1, 2, 2, 4); no score, no rank."""
    from dataclasses import replace

    positions = ranks_of({e.name: e.full for e in entries})
    ranked = (replace(e, rank=positions[e.name]) for e in entries)
    return tuple(sorted(ranked, key=lambda e: (e.rank is None, e.rank or 0, e.name)))


def ranks_of(scores: Mapping[str, float | None]) -> dict[str, int | None]:
    """Competition ranks (1, 2, 2, 4) from name -> score; None for no score."""
    ordered = sorted((s, n) for n, s in scores.items() if s is not None)
    ordered.reverse()
    result: dict[str, int | None] = dict.fromkeys(scores)
    previous: float | None = None
    current = 0
    for position, (score, name) in enumerate(ordered, 1):
        if score != previous:
            current, previous = position, score
        result[name] = current
    return result


def _set_metrics(scheme: Scheme, set_name: str) -> list[Metric]:
    return [m for sc in scheme.scenarios if sc.set == set_name for m in sc.metrics]
