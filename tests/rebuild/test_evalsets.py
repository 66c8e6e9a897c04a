"""The evaluation sets: the even spread of a budget, the data file's checks, the shipped sets' figures,
and the committed confs (in sync with the data, readable by HELM, totals equal to the budgets)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rebuild.evalsets import (
    DATA,
    SETS,
    EvalSetError,
    RunEntry,
    conf_path,
    load,
    parse_catalogue,
    plan,
    read_catalogue,
    render_conf,
    spread,
    unavailable,
)

ROOT = Path(__file__).resolve().parents[2]


def _make_confs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_confs", ROOT / "scripts" / "make_confs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_confs = _make_confs()


# ---- spread --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "parts", "shares"),
    [
        (9, 3, (3, 3, 3)),
        (10, 3, (4, 3, 3)),  # the remainder goes to the first ones
        (11, 3, (4, 4, 3)),
        (1000, 14, (72,) * 6 + (71,) * 8),  # the closed set's MATH entries
        (7, 1, (7,)),
        (3, 5, (1, 1, 1, 0, 0)),  # fewer instances than parts: the last ones get nothing
        (0, 2, (0, 0)),
    ],
)
def test_spread_by_hand(total: int, parts: int, shares: tuple[int, ...]) -> None:
    assert spread(total, parts) == shares


def test_spread_of_the_open_budget() -> None:
    shares = spread(2000, 33)
    assert shares == (61,) * 20 + (60,) * 13
    assert sum(shares) == 2000


@pytest.mark.parametrize(("total", "parts"), [(5, 0), (-1, 3)])
def test_spread_refuses_nonsense(total: int, parts: int) -> None:
    with pytest.raises(ValueError, match="spread"):
        spread(total, parts)


# ---- plan over a small hand-written catalogue ----------------------------------------------------

SMALL: dict[str, Any] = {
    "model": "neurips/local",
    "helm": {"package": "crfm-helm", "version": "0.5.16"},
    "run_specs": {"alpha": {"in_helm": True}, "beta": {"in_helm": False}},
    "sets": {"tiny": {"budget": 10, "scenarios": ["a", "b", "c"]}},
    "scenarios": {
        "a": {"run_spec": "alpha", "args": {"fixed": "x"}, "subscenarios": [{"sub": "1"}, {"sub": "2"}, {"sub": "3"}]},
        "b": {"run_spec": "beta"},
        "c": {"subscenarios": [{"run_spec": "alpha", "level": 1}, {"run_spec": "beta", "mode": "y"}]},
    },
}


def _caps(runs: tuple[RunEntry, ...]) -> list[tuple[str, str, int]]:
    return [(run.scenario, run.description, run.max_eval_instances) for run in runs]


def test_plan_spreads_over_scenarios_then_subscenarios() -> None:
    # 10 over a, b, c: 4 3 3; a's 4 over three subtasks: 2 1 1; c's 3 over two: 2 1.
    result = plan(parse_catalogue(SMALL), "tiny")
    assert result.uncovered == ()
    assert _caps(result.evalset.runs) == [
        ("a", "alpha:model=neurips/local,fixed=x,sub=1,max_eval_instances=2", 2),
        ("a", "alpha:model=neurips/local,fixed=x,sub=2,max_eval_instances=1", 1),
        ("a", "alpha:model=neurips/local,fixed=x,sub=3,max_eval_instances=1", 1),
        ("b", "beta:model=neurips/local,max_eval_instances=3", 3),
        ("c", "alpha:model=neurips/local,level=1,max_eval_instances=2", 2),
        ("c", "beta:model=neurips/local,mode=y,max_eval_instances=1", 1),
    ]
    assert [run.available_in_helm for run in result.evalset.runs] == [True, True, True, False, True, False]
    assert result.evalset.total == result.evalset.budget == 10


def test_a_budget_below_the_subscenarios_names_the_uncovered_ones() -> None:
    # 4 over a, b, c: 2 1 1; a's 2 over three: 1 1 0; c's 1 over two: 1 0.
    result = plan(parse_catalogue(SMALL), "tiny", budget=4)
    assert _caps(result.evalset.runs) == [
        ("a", "alpha:model=neurips/local,fixed=x,sub=1,max_eval_instances=1", 1),
        ("a", "alpha:model=neurips/local,fixed=x,sub=2,max_eval_instances=1", 1),
        ("b", "beta:model=neurips/local,max_eval_instances=1", 1),
        ("c", "alpha:model=neurips/local,level=1,max_eval_instances=1", 1),
    ]
    assert result.uncovered == ("a: alpha:model=neurips/local,fixed=x,sub=3", "c: beta:model=neurips/local,mode=y")
    assert result.evalset.total == 4


def test_a_budget_below_the_scenarios_leaves_whole_scenarios_out() -> None:
    result = plan(parse_catalogue(SMALL), "tiny", budget=2)  # a 1, b 1, c 0
    assert [run.scenario for run in result.evalset.runs] == ["a", "b"]
    assert result.uncovered == (
        "a: alpha:model=neurips/local,fixed=x,sub=2",
        "a: alpha:model=neurips/local,fixed=x,sub=3",
        "c: alpha:model=neurips/local,level=1",
        "c: beta:model=neurips/local,mode=y",
    )


def test_plan_refuses_an_unknown_set_and_an_empty_budget() -> None:
    catalogue = parse_catalogue(SMALL)
    with pytest.raises(EvalSetError, match="unknown evaluation set 'huge'"):
        plan(catalogue, "huge")
    with pytest.raises(EvalSetError, match="positive"):
        plan(catalogue, "tiny", budget=0)


def _with_scenario(**scenario: Any) -> dict[str, Any]:
    return {**SMALL, "scenarios": {**SMALL["scenarios"], "a": scenario}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_with_scenario(run_spec="gamma"), "run spec 'gamma'"),
        (_with_scenario(subscenarios=[{"sub": "1"}]), "no run_spec"),
        (_with_scenario(run_spec="alpha", args={"model": "other"}), "writes itself"),
        (_with_scenario(run_spec="alpha", args={"max_eval_instances": 5}), "writes itself"),
        (_with_scenario(run_spec="alpha", args={"flag": True}), "string or an integer"),
        (_with_scenario(run_spec="alpha", args={"task": "a,b"}), "cannot carry"),
        (_with_scenario(run_spec="alpha", args={"task": 'say "hi"'}), "cannot carry"),
        (_with_scenario(run_spec="alpha", args={"x": "1"}, subscenarios=[{"x": "2"}]), "fixes already"),
        (_with_scenario(run_spec="alpha", subscenarios=[{"s": "1"}, {"s": "1"}]), "same entry twice"),
        (_with_scenario(run_spec="alpha", subscenarios=[]), "non-empty"),
        (_with_scenario(run_spec="alpha", extra=1), "unknown keys: extra"),
        ({**SMALL, "sets": {"tiny": {"budget": 10, "scenarios": ["a", "zz"]}}}, "no \\[scenarios.zz\\]"),
        ({**SMALL, "sets": {"tiny": {"budget": 0, "scenarios": ["a"]}}}, "positive integer"),
        ({**SMALL, "run_specs": {"alpha": {"in_helm": "yes"}, "beta": {"in_helm": False}}}, "true or false"),
    ],
)
def test_data_file_mistakes_are_named(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(EvalSetError, match=message):
        parse_catalogue(raw)


def test_an_unreadable_data_file_names_itself(tmp_path: Path) -> None:
    broken = tmp_path / "scenarios.toml"
    broken.write_text("model = \n", encoding="utf-8")
    with pytest.raises(EvalSetError, match="not valid TOML"):
        read_catalogue(broken)


# ---- the shipped sets ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "budget"), [("open", 2000), ("closed", 5000), ("coarse", 600)])
def test_each_set_spends_exactly_its_budget(name: str, budget: int) -> None:
    evalset = load(name)
    assert evalset.name == name
    assert evalset.budget == budget
    assert evalset.total == budget
    assert all(run.max_eval_instances >= 1 for run in evalset.runs)
    assert plan(read_catalogue(), name).uncovered == ()


@pytest.mark.parametrize("name", SETS)
def test_every_entry_names_the_model_and_its_own_cap(name: str) -> None:
    for run in load(name).runs:
        run_spec, _, arguments = run.description.partition(":")
        pairs = [argument.split("=", 1) for argument in arguments.split(",")]
        assert pairs[0] == ["model", "neurips/local"], run.description
        assert pairs[-1] == ["max_eval_instances", str(run.max_eval_instances)], run.description
        assert re.fullmatch(r"[a-z_0-9]+", run_spec)


@pytest.mark.parametrize(
    ("name", "scenarios", "entries", "shares"),
    [
        ("open", 33, 87, {60, 61}),
        ("closed", 5, 22, {1000}),
        ("coarse", 33, 88, {18, 19}),
    ],
)
def test_the_competitions_figures(name: str, scenarios: int, entries: int, shares: set[int]) -> None:
    runs = load(name).runs
    per_scenario: Counter[str] = Counter()
    for run in runs:
        per_scenario[run.scenario] += run.max_eval_instances
    assert len(per_scenario) == scenarios
    assert len(runs) == entries
    assert set(per_scenario.values()) == shares


def test_the_closed_set_in_detail() -> None:
    runs = load("closed").runs
    ethics = [run for run in runs if run.scenario == "ethics"]
    assert [run.description.split(":")[0] for run in ethics] == [
        "ethics_justice",
        "ethics_commonsense",
        "ethics_virtue",
        "ethics_deontology",
        "ethics_utilitarianism",
    ]
    assert {run.max_eval_instances for run in ethics} == {200}
    math = [run for run in runs if run.scenario == "math"]
    assert len(math) == 14
    assert all("use_chain_of_thought=True" in run.description for run in math)


def test_the_scenarios_the_pinned_helm_lacks() -> None:
    assert unavailable("closed") == ("sam_sum", "corr2cause", "ethics")
    assert unavailable("open") == ()
    assert unavailable("coarse") == ()
    lacking = {run.description.split(":")[0] for run in load("closed").runs if not run.available_in_helm}
    assert lacking == {"sam_sum", "corr2cause"} | {
        f"ethics_{subset}" for subset in ("justice", "commonsense", "virtue", "deontology", "utilitarianism")
    }


def test_every_scenario_in_the_data_belongs_to_a_set() -> None:
    catalogue = read_catalogue()
    used = {scenario for spec in catalogue.sets.values() for scenario in spec.scenarios}
    assert used == set(catalogue.scenarios)
    assert set(catalogue.sets) == set(SETS)


def test_unknown_sets_are_refused() -> None:
    for call in (conf_path, load, unavailable):
        with pytest.raises(EvalSetError, match="unknown evaluation set 'secret'"):
            call("secret")


# ---- the committed confs -------------------------------------------------------------------------


def test_the_committed_confs_are_in_sync(capsys: pytest.CaptureFixture[str]) -> None:
    assert make_confs.main(["--check"]) == make_confs.EXIT_OK
    assert capsys.readouterr().err == ""


def test_check_reports_a_conf_that_differs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "scenarios.toml"
    shutil.copy(DATA, data)
    for name in SETS:
        shutil.copy(conf_path(name), tmp_path / f"{name}.conf")
    (tmp_path / "coarse.conf").write_text("entries: []\n", encoding="utf-8")
    (tmp_path / "closed.conf").unlink()

    assert make_confs.main(["--check", "--data", str(data)]) == make_confs.EXIT_DIFFERS
    err = capsys.readouterr().err
    assert "coarse.conf is out of date" in err
    assert "closed.conf is missing" in err
    assert "open.conf" not in err

    assert make_confs.main(["--data", str(data)]) == make_confs.EXIT_OK
    assert make_confs.main(["--check", "--data", str(data)]) == make_confs.EXIT_OK
    assert (tmp_path / "coarse.conf").read_text(encoding="utf-8") == conf_path("coarse").read_text(encoding="utf-8")


def test_a_budget_too_small_fails_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "smoke.conf"
    arguments = ["--set", "open", "--budget", "40", "--output", str(out)]
    assert make_confs.main(arguments) == make_confs.EXIT_DIFFERS
    assert "cannot be covered" in capsys.readouterr().err
    assert not out.exists()

    assert make_confs.main([*arguments, "--allow-uncovered"]) == make_confs.EXIT_OK
    err = capsys.readouterr().err
    assert "left out" in err
    assert "big_bench_conceptual_combinations: big_bench:" in err
    assert sum(int(cap) for cap in re.findall(r"max_eval_instances=(\d+)", out.read_text(encoding="utf-8"))) == 40


@pytest.mark.parametrize(
    "arguments",
    [
        ["--budget", "10"],
        ["--set", "open", "--budget", "10"],
        ["--output", "x.conf"],
        ["--check", "--set", "open", "--output", "x"],
    ],
)
def test_inconsistent_options_are_usage_errors(arguments: list[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        make_confs.main(arguments)
    assert stop.value.code == make_confs.EXIT_ERROR


def test_a_broken_data_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "scenarios.toml"
    data.write_text('model = "neurips/local"\n', encoding="utf-8")
    assert make_confs.main(["--check", "--data", str(data)]) == make_confs.EXIT_ERROR
    assert "[helm] must be a table" in capsys.readouterr().err


_OUR_CONF = re.compile(r'entries: \[\n((?:  \{description: "[^"\\\n]*", priority: \d+\}\n)*)\]\n')
_OUR_ENTRY = re.compile(r'\{description: "([^"]*)", priority: (\d+)\}')


def _read_conf(path: Path) -> list[tuple[str, int]]:
    """The conf's live entries, read by HELM's own reader when HELM is installed, else by a check of
    the one HOCON shape we write (full-line comments, then an `entries` array of one-line objects)."""
    try:
        from helm.benchmark.presentation.run_entry import read_run_entries
    except ImportError:
        live = "".join(
            line
            for line in path.read_text(encoding="utf-8").splitlines(keepends=True)
            if not line.lstrip().startswith("#")
        )
        match = _OUR_CONF.fullmatch(live)
        assert match, f"{path} is not in the shape make_confs writes"
        return [(description, int(priority)) for description, priority in _OUR_ENTRY.findall(match.group(1))]
    return [(entry.description, entry.priority or 0) for entry in read_run_entries([str(path)]).entries]


@pytest.mark.parametrize("name", SETS)
def test_each_conf_holds_the_runnable_entries(name: str) -> None:
    evalset = load(name)
    entries = _read_conf(conf_path(name))
    assert entries == [(run.description, 1) for run in evalset.runs if run.available_in_helm]
    text = conf_path(name).read_text(encoding="utf-8")
    for run in evalset.runs:
        if not run.available_in_helm:
            assert f'  # {{description: "{run.description}", priority: 1}}\n' in text


def test_the_unavailable_entries_can_be_written_live() -> None:
    evalset = load("closed")
    text = render_conf(evalset, "crfm-helm 0.5.16", include_unavailable=True)
    live = _OUR_ENTRY.findall(
        "".join(line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("#"))
    )
    assert [description for description, _ in live] == [run.description for run in evalset.runs]
    assert sum(int(re.findall(r"max_eval_instances=(\d+)", description)[0]) for description, _ in live) == 5000


def test_the_script_runs_from_anywhere() -> None:
    assert str(ROOT) in sys.path  # make_confs put the checkout first, so its data is the one read
