"""The competition's scoring against tables computed by hand (fractions in the comments)."""

from __future__ import annotations

import math
import sys
from fractions import Fraction as F
from pathlib import Path

import pytest

from reports.scoring import (
    SMALLEST,
    Definition,
    SchemeError,
    competition_scheme,
    load_scheme,
    parse_run_name,
    scheme_from_table,
    score_track,
    table_from_runs,
    win_rates,
)

ROOT = Path(__file__).resolve().parents[2]

SMALL = scheme_from_table(
    {
        "name": "small",
        "sets": {"open": {"weight": 1}, "hidden": {"weight": 2}},
        "scenarios": [
            {"title": "A", "set": "open", "runs": "a", "metrics": [
                {"title": "A - EM", "stat": "exact_match"},
                {"title": "A - Bias", "stat": "bias", "lower_is_better": True},
            ]},
            {"title": "B", "set": "open", "runs": "b", "metrics": [{"title": "B - EM", "stat": "exact_match"}]},
            {"title": "C", "set": "hidden", "runs": "c", "metrics": [{"title": "C - EM", "stat": "exact_match"}]},
        ],
    },
    "small",
)  # fmt: skip

TABLE = {
    "w": {"A - EM": 0.8, "A - Bias": 0.2, "B - EM": 0.3, "C - EM": 0.9},
    "x": {"A - EM": 0.8, "A - Bias": 0.1, "B - EM": 0.6, "C - EM": 0.0},
    "y": {"A - EM": 0.5, "A - Bias": None, "B - EM": 0.6, "C - EM": 0.4},
    "z": {"A - EM": None, "A - Bias": 0.1, "B - EM": 0.6, "C - EM": None},
}


def exact(value: F) -> float:
    return float(value)


def test_competition_win_rates_by_hand() -> None:
    track = score_track("t", TABLE, SMALL)
    rates = {e.name: e.win_rates for e in track.entries}
    # A - EM, filled [.8, .8, .5, 0.0 (missing)], n = 4: w beats y and z, ties x (c = 2: 1/(2*1))
    assert [rates[n]["A - EM"] for n in "wxyz"] == [exact(F(5, 8)), exact(F(5, 8)), exact(F(1, 4)), 0.0]
    # A - Bias, lower is better, missing = 1000.0: [.2, .1, 1000, .1]
    assert [rates[n]["A - Bias"] for n in "wxyz"] == [exact(F(1, 4)), exact(F(5, 8)), 0.0, exact(F(5, 8))]
    # B - EM [.3, .6, .6, .6]: x beats w, ties two others with c = 3: 1 + 2 * 1/6 = 4/3, over 4
    assert [rates[n]["B - EM"] for n in "wxyz"] == [0.0, exact(F(1, 3)), exact(F(1, 3)), exact(F(1, 3))]
    # C - EM [.9, 0.0, .4, 0.0 (missing)]: x and z tie at zero: 1/2 over 4
    assert [rates[n]["C - EM"] for n in "wxyz"] == [exact(F(3, 4)), exact(F(1, 8)), exact(F(1, 2)), exact(F(1, 8))]


def test_competition_scores_and_ranks_by_hand() -> None:
    track = score_track("t", TABLE, SMALL)
    by_name = {e.name: e for e in track.entries}
    assert by_name["w"].scenarios == {"A": exact(F(7, 16)), "B": 0.0, "C": exact(F(3, 4))}
    assert by_name["x"].scenarios == {"A": exact(F(5, 8)), "B": exact(F(1, 3)), "C": exact(F(1, 8))}
    # open = geometric mean of A and B; w's B is zero, so it counts as the smallest positive float
    assert by_name["w"].sets["open"] == pytest.approx(math.sqrt(7 / 16 * sys.float_info.min), rel=1e-12)
    assert by_name["x"].sets["open"] == pytest.approx(math.sqrt(5 / 24), rel=1e-12)
    assert by_name["y"].sets["open"] == pytest.approx(math.sqrt(1 / 24), rel=1e-12)
    assert by_name["z"].sets["open"] == pytest.approx(math.sqrt(5 / 48), rel=1e-12)
    expected_full = {
        "w": 2 / 3 * 3 / 4,
        "x": math.sqrt(5 / 24) / 3 + 2 / 3 * 1 / 8,
        "y": math.sqrt(1 / 24) / 3 + 2 / 3 * 1 / 2,
        "z": math.sqrt(5 / 48) / 3 + 2 / 3 * 1 / 8,
    }
    for name, full in expected_full.items():
        assert by_name[name].full == pytest.approx(full, rel=1e-12)
    assert [(e.name, e.rank) for e in track.entries] == [("w", 1), ("y", 2), ("x", 3), ("z", 4)]
    assert track.evaluated_sets == ("open", "hidden")


def test_helm_definition_by_hand() -> None:
    track = score_track("t", TABLE, SMALL, Definition.HELM)
    rates = {e.name: e.win_rates for e in track.entries}
    # present values only, ties count half, over m - 1
    assert [rates[n]["A - EM"] for n in "wxyz"] == [0.75, 0.75, 0.0, None]
    assert [rates[n]["A - Bias"] for n in "wxyz"] == [0.0, 0.75, None, 0.75]
    assert [rates[n]["B - EM"] for n in "wxyz"] == [0.0, exact(F(2, 3)), exact(F(2, 3)), exact(F(2, 3))]
    assert [rates[n]["C - EM"] for n in "wxyz"] == [1.0, 0.0, 0.5, None]
    by_name = {e.name: e for e in track.entries}
    assert by_name["w"].scenarios["A"] == exact(F(3, 8))
    assert by_name["y"].scenarios["A"] == 0.0  # its bias is missing: the mean is over A - EM alone
    assert by_name["z"].scenarios["A"] == 0.75
    # z has no hidden-set value at all: no hidden score, no final score, no rank
    assert by_name["z"].sets["hidden"] is None and by_name["z"].full is None and by_name["z"].rank is None
    assert [e.name for e in track.entries][-1] == "z"


def test_single_entry() -> None:
    table = {"only": {"A - EM": 0.7, "A - Bias": 0.1, "B - EM": 0.2, "C - EM": 0.3}}
    track = score_track("t", table, SMALL)
    (entry,) = track.entries
    # nobody to beat: every win rate is 0, every scenario mean 0, every set the smallest positive float
    assert set(entry.win_rates.values()) == {0.0}
    assert entry.sets == {"open": pytest.approx(SMALLEST), "hidden": SMALLEST}
    assert entry.rank == 1
    helm = score_track("t", table, SMALL, Definition.HELM)
    assert helm.entries[0].full is None and helm.entries[0].rank is None  # HELM leaves out columns under 2 values


def test_all_equal_values() -> None:
    # c = n = 3: each entry gets 2 ties of 1/(3*2), over 3: 1/9; HELM: (0 + 2/2) / 2 = 1/2
    assert win_rates([0.5, 0.5, 0.5], lower_is_better=False) == [exact(F(1, 9))] * 3
    assert win_rates([0.5, 0.5, 0.5], lower_is_better=False, definition=Definition.HELM) == [0.5] * 3
    # all missing, lower is better: all 1000.0, all tied
    assert win_rates([None, None], lower_is_better=True) == [0.25, 0.25]
    assert win_rates([None, None], lower_is_better=True, definition=Definition.HELM) == [None, None]


def test_missing_value_is_worst_under_the_competition_and_skipped_under_helm() -> None:
    # higher is better: a missing value loses to 0.0's tie? No: it *is* 0.0, so it ties a real zero
    assert win_rates([0.0, None, 0.4], lower_is_better=False) == [exact(F(1, 6)), exact(F(1, 6)), exact(F(2, 3))]
    # lower is better: a missing value is 1000.0, worse than any real bias score
    assert win_rates([0.9, None], lower_is_better=True) == [0.5, 0.0]
    assert win_rates([0.9, None, 0.1], lower_is_better=True, definition=Definition.HELM) == [0.0, None, 1.0]


def test_equal_scores_share_a_rank() -> None:
    table = {name: {"A - EM": v, "B - EM": v, "C - EM": v} for name, v in (("a", 0.9), ("b", 0.5), ("c", 0.5))}
    table["d"] = {"A - EM": 0.1, "B - EM": 0.1, "C - EM": 0.1}
    track = score_track("t", table, SMALL)
    assert [(e.name, e.rank) for e in track.entries] == [("a", 1), ("b", 2), ("c", 2), ("d", 4)]


def test_a_set_nobody_was_evaluated_on_is_left_out_with_a_note() -> None:
    table = {"a": {"A - EM": 0.9, "B - EM": 0.9}, "b": {"A - EM": 0.1, "B - EM": 0.2}}
    track = score_track("t", table, SMALL)
    assert track.evaluated_sets == ("open",)
    assert track.entries[0].sets["hidden"] is None
    assert track.entries[0].full == track.entries[0].sets["open"]
    assert "hidden" in track.notes[0].lower()


def test_competition_scheme_titles_and_weights() -> None:
    scheme = competition_scheme()
    assert [s.weight for s in scheme.sets] == [1 / 3, 2 / 3]
    titles = {m.title for m in scheme.metrics}
    assert {"MMLU - EM (Fairness)", "GSM8K - EM", "BBQ - EM", "corr2cause - EM"} <= titles
    assert "MATH (chain-of-thoughts) - Equivalent (chain of thought)" in titles
    assert sum(1 for t in titles if t.startswith("ethics_")) == 15
    lower = {m.title for m in scheme.metrics if m.lower_is_better}
    assert lower == {f"sam_sum - {k} ({d})" for k in ("Stereotypes", "Representation") for d in ("race", "gender")}
    assert not any("CNN" in t for t in titles)  # evaluated, not scored
    assert [sc.title for sc in scheme.scenarios if sc.set == "open"] == [
        "MMLU",
        "TruthfulQA",
        "BIG-bench",
        "GSM8K",
        "BBQ",
    ]


def test_metrics_from_helm_runs() -> None:
    scheme = competition_scheme()
    runs = {
        "mmlu:subject=anatomy,method=multiple_choice_joint,model=neurips_local": {"exact_match": 0.4},
        "mmlu:subject=philosophy,method=multiple_choice_joint,model=neurips_local": {"exact_match": 0.6},
        "math:subject=algebra,level=1,use_official_examples=False,use_chain_of_thought=True,model=neurips_local": {
            "math_equiv_chain_of_thought": 0.25
        },
        "math:subject=algebra,level=1,use_chain_of_thought=False,model=neurips_local": {
            "math_equiv_chain_of_thought": 0.9
        },
        "ethics_justice:model=neurips_local": {"exact_match": 0.5, "exact_match (fairness)": 0.45},
    }
    values = table_from_runs(scheme, runs)
    assert values["MMLU - EM"] == 0.5  # the mean over the subjects, as HELM's table gives it
    assert values["MATH (chain-of-thoughts) - Equivalent (chain of thought)"] == 0.25  # only chain-of-thought runs
    assert values["ethics_justice - EM (Fairness)"] == 0.45
    assert values["ethics_virtue - EM"] is None and values["GSM8K - EM"] is None


def test_run_names_parse_both_of_helms_layouts() -> None:
    assert parse_run_name("mmlu:subject=anatomy,model=x") == ("mmlu", {"subject": "anatomy", "model": "x"})
    assert parse_run_name("custom_mcqa,path=a.jsonl,method=m:model=x") == (
        "custom_mcqa",
        {"path": "a.jsonl", "method": "m", "model": "x"},
    )


def test_the_offline_fixture_scheme_matches_the_fixture_runs() -> None:
    scheme = load_scheme(ROOT / "fixtures/evalsets/offline/scheme.toml")
    runs = {"custom_mcqa,path=colours.jsonl,method=multiple_choice_joint:model=neurips_local": {"exact_match": 0.92}}
    values = table_from_runs(scheme, runs)
    assert values["Colours - EM"] == 0.92 and values["Capitals - EM"] is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"scenarios": []}, "no [sets.NAME]"),
        ({"sets": {"open": {"weight": 0}}, "scenarios": [{}]}, "positive number"),
        ({"sets": {"open": {"weight": 1}}, "scenarios": [{"title": "A", "set": "other"}]}, "must be one of open"),
        ({"sets": {"open": {"weight": 1}}, "scenarios": [{"title": "A", "set": "open", "metrics": [{"title": "t", "stat": "s"}]}]}, "`runs`"),
        ({"sets": {"open": {"weight": 1}}, "scenarios": [{"title": "A", "set": "open", "runs": "a"}]}, "has no metrics"),
    ],
)  # fmt: skip
def test_bad_schemes_say_what_to_change(table: dict, message: str) -> None:
    with pytest.raises(SchemeError, match=None) as caught:
        scheme_from_table(table, "s.toml")
    assert message in str(caught.value) and str(caught.value).startswith("s.toml: ")


def test_a_scheme_file_that_is_not_toml(tmp_path: Path) -> None:
    bad = tmp_path / "s.toml"
    bad.write_text("sets = [", encoding="utf-8")
    with pytest.raises(SchemeError, match="not valid TOML"):
        load_scheme(bad)
