"""Reproduced against claimed: tolerances and the bootstrap over instances."""

from __future__ import annotations

import pytest

from reports.reproduction import InstanceResults, Tolerance, bootstrap, check_metric, wilson
from reports.scoring import scheme_from_table, score_track

SCHEME = scheme_from_table(
    {
        "sets": {"open": {"weight": 1}},
        "scenarios": [
            {"title": "Q", "set": "open", "runs": "q", "metrics": [{"title": "Q - EM", "stat": "exact_match"}]},
            {"title": "R", "set": "open", "runs": "r", "metrics": [{"title": "R - ROUGE-2", "stat": "rouge_2"}]},
        ],
    },
    "s",
)


def test_wilson_interval_known_values() -> None:
    low, high = wilson(0.5, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)
    low, high = wilson(1.0, 25)  # a perfect score still has room below it
    assert high == 1.0 and round(low, 4) == 0.8668


def test_accuracy_metric_tolerance_comes_from_its_instances() -> None:
    inside = check_metric(0.5, 0.45, stat="exact_match", instances=100, tolerance=Tolerance())
    assert inside.within is True and inside.basis == "wilson-95"
    assert inside.difference == pytest.approx(0.05) and inside.tolerance == pytest.approx(0.5 - 0.4038, abs=1e-4)
    outside = check_metric(0.5, 0.45, stat="exact_match", instances=2000, tolerance=Tolerance())
    assert outside.within is False  # the same gap is too large over 2000 instances
    robust = check_metric(0.5, 0.45, stat="exact_match (robustness)", instances=100, tolerance=Tolerance())
    assert robust.basis == "wilson-95"


def test_other_metrics_and_unknown_counts_use_the_absolute_tolerance() -> None:
    rouge = check_metric(0.2, 0.215, stat="rouge_2", instances=100, tolerance=Tolerance())
    assert rouge.basis == "absolute" and rouge.within is False and rouge.tolerance == 0.01
    unknown = check_metric(0.5, 0.505, stat="exact_match", instances=None, tolerance=Tolerance())
    assert unknown.basis == "absolute" and unknown.within is True
    fixed = check_metric(0.5, 0.45, stat="exact_match", instances=100, tolerance=Tolerance(fixed=0.01))
    assert fixed.basis == "absolute" and fixed.within is False


def test_missing_and_unclaimed() -> None:
    assert check_metric(None, 0.4, stat="exact_match", instances=None, tolerance=Tolerance()).within is False
    unclaimed = check_metric(0.4, None, stat="exact_match", instances=None, tolerance=Tolerance())
    assert unclaimed.within is None and unclaimed.basis == "no claim"


def _instances(correct: int, total: int, offset: int = 0) -> InstanceResults:
    """`correct` of `total` right; `offset` moves which ones (entries right on different questions)."""
    values = [1.0 if (i - offset) % total < correct else 0.0 for i in range(total)]
    return InstanceResults({"q:model=x": {"exact_match": values}})


def test_bootstrap_separates_far_entries_and_not_close_ones() -> None:
    table = {
        "strong": {"Q - EM": 0.9, "R - ROUGE-2": 0.3},
        "close-a": {"Q - EM": 0.5, "R - ROUGE-2": 0.2},
        "close-b": {"Q - EM": 0.48, "R - ROUGE-2": 0.2},
    }
    instances = {"strong": _instances(90, 100), "close-a": _instances(50, 100), "close-b": _instances(48, 100, 30)}
    track = score_track("t", table, SCHEME)
    result = bootstrap(track, table, instances, replicates=200, seed=1)
    assert result is not None and result.replicates == 200
    assert result.intervals["strong"].rank == (1, 1) and result.intervals["strong"].top_share == 1.0
    assert result.intervals["close-a"].rank == (2, 3) and result.intervals["close-b"].rank == (2, 3)
    low, high = result.intervals["close-a"].scores["full"] or (0, 0)
    assert low <= track.entry("close-a").full <= high  # type: ignore[union-attr, operator]
    said = result.stability(track)
    assert said is not None and said.startswith("2 of 3 ranked entries") and "strong ranks first in 100%" in said
    again = bootstrap(track, table, instances, replicates=200, seed=1)
    assert again == result  # seeded: the same intervals every time
    # paired: the instances are drawn once per resample for every entry, so an entry right on a superset
    # of another's questions is never behind it
    nested = {"strong": _instances(90, 100), "close-a": _instances(50, 100), "close-b": _instances(48, 100)}
    paired = bootstrap(track, table, nested, replicates=200, seed=1)
    assert paired is not None and paired.intervals["close-a"].rank == (2, 2)


def test_bootstrap_without_per_instance_results() -> None:
    table = {"a": {"Q - EM": 0.5}, "b": {"Q - EM": 0.4}}
    track = score_track("t", table, SCHEME)
    assert bootstrap(track, table, {}, replicates=100) is None
    partial = bootstrap(track, table, {"a": _instances(5, 10)}, replicates=50)
    assert partial is not None and partial.resampled == ("a",)
    assert "b" in partial.notes[0]
