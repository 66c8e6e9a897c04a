"""The competition's evaluation sets, as HELM run entries: what the eval stage runs and how to read it.

The NeurIPS 2023 LLM Efficiency Challenge scored entries with HELM on three sets: the open set (2000
instances over BIG-bench tasks, MMLU subjects, TruthfulQA, GSM8K and BBQ), the closed set (5000 over
SAMSum, corr2cause, ETHICS, MATH and CNN/DailyMail) and the 600-instance "coarse" open set of the
preliminary leaderboard. Each budget was spread evenly over the set's scenarios, then over each
scenario's sub-scenarios (MMLU subjects, BIG-bench subtasks, ETHICS subsets, MATH subjects and levels).
The facts, with their sources, are data in ``scenarios.toml``; ``scripts/make_confs.py`` writes them out
as ``open.conf``, ``closed.conf`` and ``coarse.conf`` next to it, and this module reads the same data for
the eval stage::

    evalset = load("closed")   # EvalSet(name, budget, runs=(RunEntry(description, scenario, ...), ...))
    conf = conf_path("closed")  # helm-run --conf-paths CONF --suite SUITE --max-eval-instances 100 -n 30
    unavailable("closed")       # ("sam_sum", "corr2cause", "ethics"): report these as not run

How the per-entry budget reaches HELM: in the entry's description, as ``max_eval_instances=N``, the way
the competition's own confs did it. crfm-helm 0.5.16 accepts it there: ``run_spec_factory.
construct_run_specs`` peels every description argument named in ``run_expander.RUN_EXPANDERS`` off as a
run expander, and ``MaxEvalInstancesRunExpander`` (name ``max_eval_instances``; a value outside its
``values_dict`` is used as it is, and ``object_spec.parse_object_spec`` has already made "61" the
integer 61) sets ``adapter_spec.max_eval_instances`` for that entry alone. ``run.run_entries_to_run_specs``
applies the command line's ``--max-eval-instances`` only to run specs whose adapter spec has none, so
with every entry carrying its own cap one ``helm-run`` per conf runs the whole set; the flag is still
required by helm-run's parser and any value does. (``presentation.run_entry.RunEntry`` itself has only
``description``, ``priority`` and ``groups``: no per-entry count outside the description.) The expander
also appends ``,max_eval_instances=N`` to the run's name, so HELM's output directories carry it. The cap
is an upper bound (HELM samples that many eval instances with seed 0, or takes all when there are
fewer), and BIG-bench entries run four times (``max_train_instances=big_bench_few_shot_setting``: 0 to 3
in-context examples), as in the competition; budgets count entries' caps, as the competition did.

Descriptions put ``model=`` first, then the scenario's fixed arguments, then the sub-scenario's, then
``max_eval_instances=``. HELM passes the arguments that are not run expanders to the run spec function
by keyword, and appends the expanders' to the run name in description order (model, then
max_train_instances or data_augmentation, then max_eval_instances, as in the competition's confs), so
the run names are the competition's even where an argument sits elsewhere in the text.

Run specs crfm-helm 0.5.16 does not have (the closed set's sam_sum, corr2cause and ethics_*, which the
competition's HELM fork added) would stop helm-run before it runs anything ("Unknown run spec name"),
so the shipped confs carry those entries commented out; ``load`` still lists them, with
``available_in_helm=False``, and ``render_conf(..., include_unavailable=True)`` writes them live for a
HELM that has them.

Written by hand: HELM has no writer for run-entry confs, and the data is ours.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SETS = ("open", "closed", "coarse")
DATA = Path(__file__).with_name("scenarios.toml")
PRIORITY = 1  # every entry of the competition's confs had priority 1

# Arguments land in a description (`name:key=value,key=value`) and the description in a HOCON string:
# nothing may split an argument or end the string.
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BAD_VALUE_CHARS = frozenset(',="\\\n\r')
_RESERVED = ("model", "max_eval_instances")  # written by us on every entry


class EvalSetError(Exception):
    """The data file is unusable, a set is unknown, or a set cannot be covered at its budget."""


@dataclass(frozen=True)
class RunEntry:
    """One HELM run entry: its description (with ``max_eval_instances=``), the scenario it belongs to,
    its instance cap, and whether the pinned HELM has its run spec."""

    description: str
    scenario: str
    max_eval_instances: int
    available_in_helm: bool


@dataclass(frozen=True)
class EvalSet:
    """A set's budget and its run entries, in the order of the conf."""

    name: str
    budget: int
    runs: tuple[RunEntry, ...]

    @property
    def total(self) -> int:
        """The instances the entries may use together: the budget, unless sub-scenarios went uncovered."""
        return sum(run.max_eval_instances for run in self.runs)


@dataclass(frozen=True)
class SubScenario:
    """One entry's worth of a scenario: its run spec and all its arguments but model and the cap."""

    run_spec: str
    args: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SetSpec:
    name: str
    budget: int
    scenarios: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    """The data file, checked: model, HELM release, run specs, sets and scenarios."""

    model: str
    helm_release: str  # e.g. "crfm-helm 0.5.16"
    in_helm: Mapping[str, bool]  # run spec -> registered in that release
    sets: Mapping[str, SetSpec]
    scenarios: Mapping[str, tuple[SubScenario, ...]]

    def describe(self, sub: SubScenario, max_eval_instances: int | None = None) -> str:
        """The run entry description of a sub-scenario, with the cap when one is given."""
        args = [("model", self.model), *sub.args]
        if max_eval_instances is not None:
            args.append(("max_eval_instances", str(max_eval_instances)))
        return f"{sub.run_spec}:" + ",".join(f"{key}={value}" for key, value in args)


@dataclass(frozen=True)
class Plan:
    """A set spread over its entries; ``uncovered`` names the sub-scenarios whose share was 0, which
    ``evalset`` leaves out."""

    evalset: EvalSet
    uncovered: tuple[str, ...]


def spread(total: int, parts: int) -> tuple[int, ...]:
    """``total`` split into ``parts`` shares as even as integers allow: each gets ``total // parts`` and
    the first ``total % parts`` one more (first ones first, so the same data always gives the same confs).
    With ``total < parts`` the last ``parts - total`` shares are 0."""
    if parts < 1:
        raise ValueError(f"cannot spread over {parts} parts")
    if total < 0:
        raise ValueError(f"cannot spread a negative total ({total})")
    base, extra = divmod(total, parts)
    return tuple(base + 1 if index < extra else base for index in range(parts))


def plan(catalogue: Catalogue, name: str, budget: int | None = None) -> Plan:
    """Spread the set's budget (or ``budget``) evenly over its scenarios, then each scenario's share
    over its sub-scenarios."""
    spec = _set_spec(catalogue, name)
    total = spec.budget if budget is None else budget
    if total < 1:
        raise EvalSetError(f"a budget must be a positive number of instances, not {total}")
    runs: list[RunEntry] = []
    uncovered: list[str] = []
    for scenario, share in zip(spec.scenarios, spread(total, len(spec.scenarios)), strict=True):
        subs = catalogue.scenarios[scenario]
        for sub, cap in zip(subs, spread(share, len(subs)), strict=True):
            if cap == 0:
                uncovered.append(f"{scenario}: {catalogue.describe(sub)}")
                continue
            runs.append(
                RunEntry(
                    description=catalogue.describe(sub, cap),
                    scenario=scenario,
                    max_eval_instances=cap,
                    available_in_helm=catalogue.in_helm[sub.run_spec],
                )
            )
    return Plan(EvalSet(spec.name, total, tuple(runs)), tuple(uncovered))


def conf_path(name: str) -> Path:
    """The shipped conf of a set, for ``helm-run --conf-paths``."""
    if name not in SETS:
        raise EvalSetError(f"unknown evaluation set {name!r}; the sets are {', '.join(SETS)}")
    return Path(__file__).with_name(f"{name}.conf")


def load(name: str) -> EvalSet:
    """The set as the shipped data defines it (and its shipped conf holds, which a test keeps true)."""
    if name not in SETS:
        raise EvalSetError(f"unknown evaluation set {name!r}; the sets are {', '.join(SETS)}")
    result = plan(read_catalogue(), name)
    if result.uncovered:  # the shipped budgets cover everything; this guards edits of the data
        raise EvalSetError(f"set {name!r} leaves sub-scenarios without instances: {'; '.join(result.uncovered)}")
    return result.evalset


def unavailable(name: str) -> tuple[str, ...]:
    """The set's scenarios with an entry whose run spec the pinned HELM lacks, in the set's order."""
    return tuple(dict.fromkeys(run.scenario for run in load(name).runs if not run.available_in_helm))


def render_conf(evalset: EvalSet, helm_release: str, *, include_unavailable: bool = False) -> str:
    """The HOCON run-entry conf HELM reads (``entries: [{description: ..., priority: ...}, ...]``).

    Entries whose run spec ``helm_release`` lacks are written commented out, so that release runs the
    rest, unless ``include_unavailable`` (for a HELM that has them, such as the competition's fork)."""
    scenarios = len(dict.fromkeys(run.scenario for run in evalset.runs))
    lines = [
        f"# {evalset.name}: the NeurIPS 2023 LLM Efficiency Challenge's {evalset.name} evaluation set,",
        f"# {evalset.total} instances over {scenarios} scenarios in {len(evalset.runs)} entries.",
        "# Written by scripts/make_confs.py from rebuild/evalsets/scenarios.toml: edit those, not this file.",
        "# Each entry's max_eval_instances=N caps its own instances; helm-run's --max-eval-instances only",
        "# applies to entries without one, so any value does:",
        f"#   helm-run --conf-paths {evalset.name}.conf --suite SUITE --max-eval-instances 100 -n 30",
    ]
    missing = [run for run in evalset.runs if not run.available_in_helm]
    if missing and not include_unavailable:
        lines.append(f"# Entries commented out: their run specs are not in {helm_release}.")
    lines.append("entries: [")
    previous = None
    for run in evalset.runs:
        live = run.available_in_helm or include_unavailable
        if run.scenario != previous:
            note = "" if live else f" (not in {helm_release})"
            lines.append(f"  # {run.scenario}{note}")
            previous = run.scenario
        entry = f'{{description: "{run.description}", priority: {PRIORITY}}}'
        lines.append(f"  {entry}" if live else f"  # {entry}")
    lines.append("]")
    return "\n".join(lines) + "\n"


def read_catalogue(path: Path = DATA) -> Catalogue:
    """Read and check a data file (by default the shipped ``scenarios.toml``)."""
    if path == DATA:
        return _shipped_catalogue()
    return _read_catalogue(path)


@functools.cache
def _shipped_catalogue() -> Catalogue:
    return _read_catalogue(DATA)


def _read_catalogue(path: Path) -> Catalogue:
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except OSError as exc:
        raise EvalSetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise EvalSetError(f"{path} is not valid TOML: {exc}") from exc
    try:
        return parse_catalogue(raw)
    except EvalSetError as exc:
        raise EvalSetError(f"{path}: {exc}") from exc


def parse_catalogue(raw: Mapping[str, Any]) -> Catalogue:
    """Check parsed TOML (the layout is described at the top of ``scenarios.toml``)."""
    model = _value(raw.get("model"), "model")
    helm = _table(raw.get("helm"), "[helm]")
    helm_release = f"{_string(helm.get('package'), 'helm.package')} {_string(helm.get('version'), 'helm.version')}"

    in_helm: dict[str, bool] = {}
    for name, entry in _table(raw.get("run_specs"), "[run_specs]").items():
        available = _table(entry, f"run_specs.{name}").get("in_helm")
        if not isinstance(available, bool):
            raise EvalSetError(f"run_specs.{name}.in_helm must be true or false")
        in_helm[_key(name, "run_specs")] = available

    scenarios = {
        _key(scenario_id, "scenarios"): _subscenarios(scenario_id, _table(entry, f"scenarios.{scenario_id}"), in_helm)
        for scenario_id, entry in _table(raw.get("scenarios"), "[scenarios]").items()
    }

    sets: dict[str, SetSpec] = {}
    for name, entry in _table(raw.get("sets"), "[sets]").items():
        table = _table(entry, f"sets.{name}")
        budget = table.get("budget")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise EvalSetError(f"sets.{name}.budget must be a positive integer")
        members = _strings(table.get("scenarios"), f"sets.{name}.scenarios")
        if not members:
            raise EvalSetError(f"sets.{name}.scenarios is empty")
        for member in members:
            if member not in scenarios:
                raise EvalSetError(f"sets.{name}.scenarios names {member!r}, which no [scenarios.{member}] defines")
        if len(set(members)) != len(members):
            raise EvalSetError(f"sets.{name}.scenarios names a scenario twice")
        sets[name] = SetSpec(name, budget, tuple(members))

    catalogue = Catalogue(model, helm_release, in_helm, sets, scenarios)
    for spec in sets.values():
        descriptions = [catalogue.describe(sub) for member in spec.scenarios for sub in scenarios[member]]
        if len(set(descriptions)) != len(descriptions):
            raise EvalSetError(f"sets.{spec.name} would have the same entry twice")
    return catalogue


def _subscenarios(scenario_id: str, table: Mapping[str, Any], in_helm: Mapping[str, bool]) -> tuple[SubScenario, ...]:
    where = f"scenarios.{scenario_id}"
    unknown = set(table) - {"run_spec", "args", "subscenarios"}
    if unknown:
        raise EvalSetError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    run_spec = table.get("run_spec")
    fixed = _arguments(table.get("args", {}), f"{where}.args")
    raw_subs = table.get("subscenarios", [{}])
    if not isinstance(raw_subs, list) or not raw_subs:
        raise EvalSetError(f"{where}.subscenarios must be a non-empty array of tables")
    subs: list[SubScenario] = []
    for index, raw_sub in enumerate(raw_subs):
        sub_where = f"{where}.subscenarios[{index}]"
        sub_table = dict(_table(raw_sub, sub_where))
        sub_run_spec = sub_table.pop("run_spec", run_spec)
        if sub_run_spec is None:
            raise EvalSetError(f"{sub_where} has no run_spec (neither it nor {where} names one)")
        name = _key(_string(sub_run_spec, f"{sub_where}.run_spec"), sub_where)
        if name not in in_helm:
            raise EvalSetError(f"{sub_where} uses run spec {name!r}, which [run_specs] does not list")
        extra = _arguments(sub_table, sub_where)
        clash = {key for key, _ in fixed} & {key for key, _ in extra}
        if clash:
            raise EvalSetError(f"{sub_where} sets {', '.join(sorted(clash))}, which {where}.args fixes already")
        subs.append(SubScenario(name, fixed + extra))
    return tuple(subs)


def _arguments(raw: object, where: str) -> tuple[tuple[str, str], ...]:
    args: list[tuple[str, str]] = []
    for key, value in _table(raw, where).items():
        _key(key, where)
        if key in _RESERVED:
            raise EvalSetError(f"{where} sets {key}, which make_confs writes itself")
        args.append((key, _value(value, f"{where}.{key}")))
    return tuple(args)


def _value(raw: object, where: str) -> str:
    # Booleans are refused: HELM compares strings such as "True", and TOML's true would read as "True"
    # here but as a different thing to a reader of the data.
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise EvalSetError(f"{where} must be a string or an integer")
    text = str(raw)
    if _BAD_VALUE_CHARS & set(text):
        raise EvalSetError(f'{where} = {text!r} holds a character a description cannot carry (, = " \\ or a newline)')
    return text


def _key(raw: str, where: str) -> str:
    if not _KEY.fullmatch(raw):
        raise EvalSetError(f"{where}: {raw!r} is not a name (letters, digits, underscores)")
    return raw


def _string(raw: object, where: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise EvalSetError(f"{where} must be a non-empty string")
    return raw


def _strings(raw: object, where: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise EvalSetError(f"{where} must be an array of strings")
    return list(raw)


def _table(raw: object, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise EvalSetError(f"{where} must be a table")
    return raw


def _set_spec(catalogue: Catalogue, name: str) -> SetSpec:
    try:
        return catalogue.sets[name]
    except KeyError:
        known = ", ".join(catalogue.sets) or "none"
        raise EvalSetError(f"unknown evaluation set {name!r}; the data defines {known}") from None
