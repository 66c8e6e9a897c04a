"""Reproduced against claimed: per metric and per score, within tolerance or not; bootstrap intervals.

- Tolerance of an accuracy metric (a proportion of instances: exact match, equivalence) over n
  evaluated instances: the claimed value must fall in the Wilson 95% interval of the reproduced one.
  Other metrics (ROUGE, bias), and any metric whose instance count is unknown, use an absolute
  tolerance (`Tolerance.absolute`, default 0.01). `Tolerance.fixed` replaces both.
- Scores: the claimed score must fall in the bootstrap 95% interval of the reproduced one, when there is
  one; otherwise within `Tolerance.score` (default 0.05).
- Bootstrap: every entry's instances are resampled with replacement, per HELM run (the same draw for
  every statistic of the run, so a metric and its robustness variant move together), the metrics and
  the whole track's scores recomputed, `replicates` times; the 2.5th and 97.5th percentiles give each
  score's and each rank's interval. Statistics HELM computes over the whole run (the bias metrics)
  have no per-instance values and stay as they are.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reports.scoring import Scheme, Table, TrackScores, score_track, table_from_runs

Z95 = 1.959963984540054
ACCURACY_STATS = ("exact_match", "quasi_exact_match", "prefix_exact_match", "exact_match_indicator",
                  "final_number_exact_match", "math_equiv", "math_equiv_chain_of_thought")  # fmt: skip


@dataclass(frozen=True)
class Tolerance:
    absolute: float = 0.01  # metrics that are not proportions, or whose instance count is unknown
    score: float = 0.05  # scores without a bootstrap interval
    fixed: float | None = None  # one absolute tolerance for every metric (--tolerance)


@dataclass(frozen=True)
class MetricCheck:
    value: float | None
    claimed: float | None
    difference: float | None
    tolerance: float | None
    within: bool | None
    basis: str  # "wilson-95" | "absolute" | "no claim" | "missing"


@dataclass(frozen=True)
class InstanceResults:
    """One entry's per-instance values, per HELM run: run name -> statistic -> one value per instance."""

    runs: Mapping[str, Mapping[str, Sequence[float]]]


def is_accuracy(stat: str) -> bool:
    return stat.split(" (", 1)[0] in ACCURACY_STATS


def wilson(p: float, n: int) -> tuple[float, float]:
    """The Wilson score 95% interval of a proportion p observed over n trials."""
    denominator = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    low = 0.0 if p <= 0.0 else max(0.0, centre - half)
    high = 1.0 if p >= 1.0 else min(1.0, centre + half)  # the formula gives 1 - 1e-16 at p = 1
    return low, high


def check_metric(
    value: float | None, claimed: float | None, *, stat: str, instances: int | None, tolerance: Tolerance
) -> MetricCheck:
    if claimed is None:
        return MetricCheck(value, None, None, None, None, "no claim")
    if value is None:
        return MetricCheck(None, claimed, None, None, False, "missing")
    difference = value - claimed
    if tolerance.fixed is None and is_accuracy(stat) and instances and 0.0 <= value <= 1.0:
        low, high = wilson(value, instances)
        allowed = high - value if claimed > value else value - low
        return MetricCheck(value, claimed, difference, allowed, low <= claimed <= high, "wilson-95")
    allowed = tolerance.absolute if tolerance.fixed is None else tolerance.fixed
    return MetricCheck(value, claimed, difference, allowed, abs(difference) <= allowed + 1e-12, "absolute")


@dataclass(frozen=True)
class Intervals:
    scores: dict[str, tuple[float, float] | None]  # "open", "hidden", "full" -> 95% interval
    rank: tuple[int, int] | None
    top_share: float  # share of resamples where this entry ranked first


@dataclass(frozen=True)
class BootstrapResult:
    replicates: int
    intervals: dict[str, Intervals]
    resampled: tuple[str, ...]  # entries with per-instance results (the others stay fixed)
    notes: tuple[str, ...] = field(default=())

    def stability(self, track: TrackScores) -> str | None:
        """How stable the ranking is, in numbers (None when there is nothing to say)."""
        ranked = [e for e in track.entries if e.rank is not None and e.name in self.intervals]
        if len(ranked) < 2:
            return None
        unstable = [e.name for e in ranked if (iv := self.intervals[e.name].rank) is not None and iv[0] != iv[1]]
        leader = ranked[0].name
        held = self.intervals[leader].top_share
        return (
            f"{len(unstable)} of {len(ranked)} ranked entries have a 95% rank interval wider than one place; "
            f"{leader} ranks first in {held:.0%} of {self.replicates} resamples of the evaluated instances"
        )


def bootstrap(
    track: TrackScores,
    tables: Mapping[str, Mapping[str, float | None]],
    instances: Mapping[str, InstanceResults],
    *,
    replicates: int = 1000,
    seed: int = 0,
) -> BootstrapResult | None:
    """Intervals of every entry's scores and rank, by resampling the evaluated instances. None when no
    entry of the track has per-instance results."""
    scheme = track.scheme
    resampled = tuple(name for name in tables if name in instances and instances[name].runs)
    if not resampled or replicates < 2:
        return None
    rng = random.Random(seed)
    draws: dict[str, list[float | None]] = {}
    ranks: dict[str, list[int | None]] = {}
    for _ in range(replicates):
        table: dict[str, Mapping[str, float | None]] = dict(tables)
        draws_of_runs: dict[tuple[str, int], list[int]] = {}  # one draw per run, shared by every entry
        for name in resampled:
            table[name] = _resampled_metrics(scheme, tables[name], instances[name], rng, draws_of_runs)
        scores = score_track(track.track, table, scheme, track.definition)
        for entry in scores.entries:
            for which in ("full", *(s.name for s in scheme.sets)):
                draws.setdefault(f"{entry.name}\0{which}", []).append(entry.score(which))
            ranks.setdefault(entry.name, []).append(entry.rank)
    intervals = {}
    for name in tables:
        scores_of = {
            which: _percentiles(draws.get(f"{name}\0{which}", [])) for which in ("full", *(s.name for s in scheme.sets))
        }
        rank_draws = [r for r in ranks.get(name, []) if r is not None]
        rank_interval = None
        if len(rank_draws) == replicates:
            low, high = _percentiles([float(r) for r in rank_draws]) or (0.0, 0.0)
            rank_interval = (int(low), int(high))
        top = sum(1 for r in rank_draws if r == 1) / replicates
        intervals[name] = Intervals(scores_of, rank_interval, top)
    fixed = sorted(n for n in set(tables) - set(resampled) if any(v is not None for v in tables[n].values()))
    notes = []
    if fixed:
        notes.append(f"no per-instance results for {', '.join(fixed)}: their metrics are held fixed")
    return BootstrapResult(replicates, intervals, resampled, tuple(notes))


def _resampled_metrics(
    scheme: Scheme,
    table: Mapping[str, float | None],
    results: InstanceResults,
    rng: random.Random,
    draws: dict[tuple[str, int], list[int]],
) -> dict[str, float | None]:
    """An entry's metrics over one resample. The entries of a track answered the same instances (in
    instance-id order), so they are resampled together: paired, as a benchmark's bootstrap should be,
    or every interval would be wider than the comparison it is about."""
    run_means: dict[str, dict[str, float]] = {}
    for run, stats in results.runs.items():
        sizes = {len(v) for v in stats.values()}
        if len(sizes) != 1 or not (size := sizes.pop()):
            continue
        key = (run, size)
        if key not in draws:
            draws[key] = rng.choices(range(size), k=size)
        picks = draws[key]
        run_means[run] = {stat: sum(map(values.__getitem__, picks)) / size for stat, values in stats.items()}
    resampled = table_from_runs(scheme, run_means)  # run-level statistics (bias) have no draws: kept as they are
    return {
        title: resampled.get(title) if resampled.get(title) is not None else value for title, value in table.items()
    }


def _percentiles(values: Sequence[float | None]) -> tuple[float, float] | None:
    """The 2.5th and 97.5th percentiles (nearest rank); None when any draw has no value."""
    if not values or any(v is None for v in values):
        return None
    ordered = sorted(v for v in values if v is not None)
    low = ordered[max(0, math.ceil(0.025 * len(ordered)) - 1)]
    high = ordered[min(len(ordered) - 1, math.ceil(0.975 * len(ordered)) - 1)]
    return low, high


def claimed_scores(track: TrackScores, claimed: Table) -> TrackScores | None:
    """The track scored with each claimed entry's metrics in place of its reproduced ones (an entry
    without a claim keeps its own), so claimed scores and ranks are computed the same way as the
    reproduced ones, against the same field."""
    if not claimed:
        return None
    table: dict[str, dict[str, float | None]] = {}
    for entry in track.entries:
        table[entry.name] = dict(entry.metrics)
        if entry.name in claimed:
            table[entry.name].update({k: v for k, v in claimed[entry.name].items() if k in entry.metrics})
    return score_track(track.track, table, track.scheme, track.definition)
