"""HELM, the competition's evaluator, driven as the organizers drove it.

HELM (`crfm-helm`, pinned to `HELM_VERSION`) is a large install with its own torch, so it usually lives
in an environment of its own (`scripts/helm-env.sh` makes one, cached outside the clone) and is run as
commands: `helm-run --conf-paths CONF --suite SUITE --max-eval-instances N -n THREADS`, then
`helm-summarize --suite SUITE`, with the model `neurips/local`. Its HTTP client and its tokenizer both
read the server's address from `HELM_HTTP_MODEL_BASE_URL`; setting the address anywhere else leaves the
tokenizer on `http://localhost:8080`, which fails slowly and still exits 0, so the variable is always set.

This module finds the install, prepares a suite's folder (the conf, and the question files of HELM's
JSONL scenarios such as `custom_mcqa` copied where HELM looks for them), runs the two commands under
their deadlines, and reads the results: which runs finished (`runs/SUITE/<run>/stats.json`), which were
planned but never finished (from the run specs helm-run lists in its log), and each finished run's
metrics.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.process import CommandResult, run_logged
from audit.secrets.guard import guard

HELM_VERSION = "0.5.16"
HELM_ENV_VARIABLE = "REPRO_AUDIT_HELM"  # a folder holding helm-run (a virtual environment's bin), or helm-run
MODEL = "neurips/local"
INSTALL_HINT = (
    "install it with `bash scripts/helm-env.sh` (an environment of its own, cached), or "
    "`pip install 'repro-audit[helm]' -c constraints/helm-cpu.txt`, or point REPRO_AUDIT_HELM at its bin folder"
)

_DESCRIPTION = re.compile(r"description\s*[:=]\s*\"((?:[^\"\\]|\\.)*)\"")
_PLANNED = re.compile(r"RunSpec\(name='([^']+)'")
_JSONL_SCENARIOS = ("custom_mcqa",)  # scenarios that read a question file named by a `path=` argument


def cache_home() -> Path:
    """Where scripts/helm-env.sh keeps HELM environments, one per set of pinned versions."""
    base = os.environ.get("REPRO_AUDIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "repro-audit"
    )
    return Path(base)


@dataclass(frozen=True)
class HelmInstall:
    run: Path  # helm-run
    summarize: Path  # helm-summarize
    version: str | None  # crfm-helm's version, when the environment's python can tell

    @property
    def pinned(self) -> bool:
        return self.version == HELM_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.run.parent), "version": self.version, "pinned": self.pinned}


def find_helm(configured: str | None = None) -> HelmInstall | str:
    """The HELM to use, or why there is none. Looked for in order: `configured` (a folder or the
    helm-run file), $REPRO_AUDIT_HELM, this interpreter's environment, the environments
    scripts/helm-env.sh made (newest first), then PATH."""
    given = configured or os.environ.get(HELM_ENV_VARIABLE)
    if given:  # named explicitly: that one or none, never another found elsewhere
        source = "--helm" if configured else HELM_ENV_VARIABLE
        path = Path(given).expanduser()
        run = path if path.name == "helm-run" else path / "helm-run"
        if not (run.is_file() and os.access(run, os.X_OK)):
            return f"no executable helm-run at {run} (from {source}): {INSTALL_HINT}"
        if not run.with_name("helm-summarize").is_file():
            return f"{run.parent} has helm-run but no helm-summarize (from {source}): an incomplete HELM install"
        return HelmInstall(run, run.with_name("helm-summarize"), _version(run.parent))
    candidates = [Path(sys.executable).parent / "helm-run"]
    made = sorted(cache_home().glob("helm-*/.complete"), key=lambda p: p.stat().st_mtime, reverse=True)
    candidates += [stamp.parent / "bin" / "helm-run" for stamp in made]
    on_path = shutil.which("helm-run")
    if on_path:
        candidates.append(Path(on_path))
    for run in candidates:
        summarize = run.with_name("helm-summarize")
        if run.is_file() and os.access(run, os.X_OK) and summarize.is_file():
            return HelmInstall(run, summarize, _version(run.parent))
    return f"HELM (crfm-helm {HELM_VERSION}) is not installed: {INSTALL_HINT}"


def _version(bin_dir: Path) -> str | None:
    python = bin_dir / "python"
    if not python.is_file():
        return None
    try:
        done = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('crfm-helm'))"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


# ---- a suite's folder ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suite:
    """One evaluation: its folder (HELM's output path), the conf it runs and what that conf asks for."""

    name: str
    folder: Path
    conf: Path
    descriptions: tuple[str, ...]
    missing_files: tuple[str, ...] = ()  # question files the conf names that do not exist

    @property
    def output(self) -> Path:
        return self.folder / "benchmark_output"

    @property
    def runs_folder(self) -> Path:
        return self.output / "runs" / self.name


class ConfError(Exception):
    """A conf file that cannot be used; the message says which and why."""


def descriptions_of(conf: Path) -> tuple[str, ...]:
    try:
        text = conf.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfError(f"cannot read the HELM conf {conf}: {exc}") from None
    # HOCON comments (`#`, `//`) hold entries a conf keeps for a HELM that has them: not run here
    live = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("#", "//")))
    try:
        found = tuple(json.loads(f'"{raw}"') for raw in _DESCRIPTION.findall(live))
    except ValueError as exc:
        raise ConfError(f"{conf}: a description is not a valid string ({exc})") from None
    if not found:
        raise ConfError(f'{conf} names no run entry (expected `entries: [{{description: "...", priority: 1}}]`)')
    return found


def prepare_suite(conf: Path, folder: Path, name: str) -> Suite:
    """A fresh suite folder with a copy of `conf`; each question file a JSONL scenario names by a
    relative `path=` is copied from beside the conf to where HELM reads it
    (`benchmark_output/scenarios/<scenario>/`)."""
    descriptions = descriptions_of(conf)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    missing = []
    for description in descriptions:
        scenario, _, arguments = description.partition(":")
        if scenario not in _JSONL_SCENARIOS:
            continue
        for argument in arguments.split(","):
            key, _, value = argument.partition("=")
            if key.strip() != "path" or not value or Path(value).is_absolute():
                continue
            source = (conf.parent / value).resolve()
            if not source.is_file() or not source.is_relative_to(conf.parent.resolve()):
                missing.append(value)
                continue
            target = folder / "benchmark_output" / "scenarios" / scenario / value
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    copy = folder / conf.name
    shutil.copyfile(conf, copy)
    return Suite(name, folder, copy, descriptions, tuple(missing))


def run_helm(
    install: HelmInstall,
    suite: Suite,
    *,
    base_url: str,
    max_eval_instances: int,
    threads: int,
    timeout: float,
    log: Path,
) -> CommandResult:
    """`helm-run` over the suite against the server at `base_url`, stopped at `timeout` seconds."""
    argv = [
        str(install.run),
        "--conf-paths",
        str(suite.conf),
        "--suite",
        suite.name,
        "--max-eval-instances",
        str(max_eval_instances),
        "-n",
        str(threads),
        "--output-path",
        str(suite.output),
        "--local-path",
        str(suite.folder / "prod_env"),
    ]
    return run_logged(argv, log=log, timeout=timeout, env=_environment(base_url), cwd=suite.folder, guard=guard)


def summarize(install: HelmInstall, suite: Suite, *, timeout: float, log: Path) -> CommandResult:
    argv = [str(install.summarize), "--suite", suite.name, "--output-path", str(suite.output)]
    return run_logged(argv, log=log, timeout=timeout, env=_environment(None), cwd=suite.folder, guard=guard)


def _environment(base_url: str | None) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("HELM_")}
    environment["PYTHONUNBUFFERED"] = "1"
    # HELM reaches the server through the relay on 127.0.0.1: never through a proxy the machine has set
    environment["NO_PROXY"] = environment["no_proxy"] = "127.0.0.1,localhost"
    if base_url is not None:
        environment["HELM_HTTP_MODEL_BASE_URL"] = base_url
    return environment


# ---- results -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    name: str  # HELM's run name, e.g. "mmlu:subject=anatomy,method=multiple_choice_joint,model=neurips_local"
    finished: bool
    metrics: dict[str, float] = field(default_factory=dict)  # "exact_match", "exact_match (robustness)", ...
    instances: int | None = None
    per_instance: dict[str, list[float]] = field(default_factory=dict)  # statistic -> one value per instance

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "finished": self.finished,
            "instances": self.instances,
            "metrics": self.metrics,
            "per_instance": self.per_instance,
        }


def planned_runs(log: Path) -> tuple[str, ...]:
    """The run specs helm-run said it would run (it lists them before running any)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    return tuple(dict.fromkeys(_PLANNED.findall(text)))


def collect(suite: Suite, planned: tuple[str, ...]) -> list[RunResult]:
    """Every run of the suite: those with a stats.json finished (with their metrics), the rest of the
    planned ones not."""
    results: dict[str, RunResult] = {}
    if suite.runs_folder.is_dir():
        for folder in sorted(p for p in suite.runs_folder.iterdir() if p.is_dir()):
            stats = folder / "stats.json"
            if not stats.is_file() or not (folder / "run_spec.json").is_file():
                continue
            metrics = read_metrics(stats)
            instances = metrics.pop("num_instances", None)
            per_instance = read_per_instance(folder / "per_instance_stats.json")
            results[folder.name] = RunResult(
                folder.name, True, metrics, int(instances) if instances else None, per_instance
            )
    for name in planned:
        folder_name = name.replace("/", "_")
        if folder_name not in results:
            results[folder_name] = RunResult(folder_name, False)
    return list(results.values())


def read_metrics(stats: Path) -> dict[str, float]:
    """The test split's mean of every statistic in a run's stats.json, a perturbation's named after it
    (`exact_match (robustness)`), as HELM's summary tables give them."""
    try:
        rows = json.loads(stats.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    metrics: dict[str, float] = {}
    for row in rows if isinstance(rows, list) else []:
        name = row.get("name") if isinstance(row, dict) else None
        if not isinstance(name, dict) or name.get("split") != "test" or not row.get("count"):
            continue
        if isinstance(row.get("mean"), bool) or not isinstance(row.get("mean"), int | float):
            continue
        if not math.isfinite(row["mean"]):  # a NaN is no value: the scoring counts it as missing
            continue
        key = str(name.get("name"))
        perturbation = name.get("perturbation")
        if isinstance(perturbation, dict):
            key = f"{key} ({perturbation.get('name')})"
        if not name.get("sub_split"):
            metrics[key] = float(row["mean"])
    return metrics


PER_INSTANCE_STATS = ("exact_match", "quasi_exact_match", "prefix_exact_match", "exact_match_indicator",
                      "final_number_exact_match", "math_equiv", "math_equiv_chain_of_thought", "rouge_2")  # fmt: skip
"""The statistics kept per instance (for the scoring's bootstrap): the ones the competition scored."""


def read_per_instance(path: Path) -> dict[str, list[float]]:
    """Per statistic of PER_INSTANCE_STATS, one value per instance (in instance-id order), from a run's
    per_instance_stats.json; with its worst case over the instance's robustness and fairness
    perturbations as `stat (robustness)` and `stat (fairness)`, which is how HELM makes those columns."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    base: dict[str, dict[str, float]] = {}
    worst: dict[str, dict[str, float]] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or not isinstance(row.get("instance_id"), str):
            continue
        instance = row["instance_id"]
        perturbation = row.get("perturbation") if isinstance(row.get("perturbation"), dict) else None
        for stat in row.get("stats") or []:
            name = stat.get("name") if isinstance(stat, dict) else None
            value = stat.get("mean") if isinstance(stat, dict) else None
            if not isinstance(name, dict) or name.get("split") != "test" or name.get("name") not in PER_INSTANCE_STATS:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            key = str(name["name"])
            kinds = ["robustness", "fairness"] if perturbation is None else [
                kind for kind in ("robustness", "fairness") if perturbation.get(kind)
            ]  # fmt: skip
            if perturbation is None:
                base.setdefault(key, {})[instance] = float(value)
            for kind in kinds:
                column = worst.setdefault(f"{key} ({kind})", {})
                column[instance] = min(column.get(instance, float(value)), float(value))
    result: dict[str, list[float]] = {}
    for key, values in base.items():
        ids = sorted(values)
        result[key] = [values[i] for i in ids]
        for kind in ("robustness", "fairness"):
            column = worst.get(f"{key} ({kind})", {})
            result[f"{key} ({kind})"] = [column.get(i, values[i]) for i in ids]
    return result


def guard_outputs(suite: Suite) -> int:
    """Pass HELM's JSON outputs through the secret guard in place: they quote the server's completions
    verbatim, and a run folder is often published. Returns the files changed."""
    changed = 0
    if not suite.runs_folder.is_dir():
        return 0
    for path in suite.runs_folder.rglob("*.json"):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        cleaned = guard(text)
        if cleaned != text:
            path.write_text(cleaned, encoding="utf-8")
            changed += 1
    return changed


def groups(suite: Suite) -> dict[str, Any]:
    """What helm-summarize wrote per group (`runs/SUITE/groups/*.json`): the summary tables, by group."""
    folder = suite.runs_folder / "groups"
    tables: dict[str, Any] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                tables[path.stem] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
    return tables
