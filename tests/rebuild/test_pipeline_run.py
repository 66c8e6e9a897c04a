"""The whole pipeline on the fixture archive (fixtures/pipeline/): `repro-audit run` builds, trains, serves
and evaluates every entry with the real Docker Engine and the real HELM, and each entry ends as
fixtures/pipeline/expected.toml says: the learner is evaluated and scores clearly above chance, the
broken entries get the right classification, and nothing of the run is left in the engine."""

from __future__ import annotations

import json
import shutil
import sqlite3
import tomllib
from pathlib import Path
from typing import Any

import docker
import pytest

from audit.cli import main
from rebuild import engine

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads(
    (FIXTURES / "pipeline" / "expected.toml").read_text(encoding="utf-8")
)
pytestmark = [pytest.mark.docker, pytest.mark.helm]

# How expected.toml names an evaluation's end, and how the eval stage's data does.
EVAL_OUTCOMES = {"evaluated": "evaluated", "api-violations": "evaluated", "unhealthy": "unhealthy",
                 "eval-timeout": "eval-timeout"}  # fmt: skip


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    """One run over a copy of the archive (with its evaluation sets beside it, where overrides.toml
    points), shared by the tests of this module: it takes a minute or two."""
    root = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(FIXTURES / "pipeline", root / "pipeline")
    shutil.copytree(FIXTURES / "evalsets", root / "evalsets")
    out = root / "out"
    code = main(["run", str(root / "pipeline"), "--out", str(out), "--plain"])
    return code, out


def _report(out: Path, name: str) -> dict[str, Any]:
    return json.loads((out / "entries" / name / "report.json").read_text(encoding="utf-8"))


def _rules(report: dict[str, Any], family: str) -> set[str]:
    return {f["rule"] for f in report["findings"] if f["family"] == family}


def test_every_entry_ends_as_expected(pipeline_run: tuple[int, Path]) -> None:
    code, out = pipeline_run
    assert code == 1  # the broken entries fail their stages
    for name, expected in EXPECTED.items():
        report = _report(out, name)
        stages = {s["stage"]: s for s in report["stages"]}
        assert {t["status"] for t in report["build"]["targets"]} == {"built"}, name
        assert report["train"]["end"] == expected["train"], name
        if expected["eval"] == "skipped":
            assert stages["eval"]["status"] == "skipped", name
            assert f"training did not finish ({expected['train']})" in stages["eval"]["reason"], name
        else:
            assert report["eval"]["outcome"] == EVAL_OUTCOMES[expected["eval"]], name


def test_the_learner_is_evaluated_by_helm_and_scores_above_chance(pipeline_run: tuple[int, Path]) -> None:
    _, out = pipeline_run
    report = _report(out, "A100/alice/learner")
    evaluation = report["eval"]
    assert evaluation["health"]["healthy"] is True
    assert evaluation["api"]["passed"] is True
    assert evaluation["helm"]["version"] == "0.5.16"
    assert evaluation["helm"]["finished"] == evaluation["helm"]["planned"] == 3
    scores = [run["metrics"]["exact_match"] for run in evaluation["runs"]]
    assert len(scores) == 3 and all(run["instances"] == 25 for run in evaluation["runs"])
    assert sum(scores) / len(scores) >= EXPECTED["A100/alice/learner"]["min_exact_match"]  # chance: 0.25
    speed = evaluation["throughput"]
    assert speed["process_requests"] == 75  # one per question: HELM went through the relay
    assert speed["requests_per_second"] > 0 and speed["latency_p95_seconds"] >= speed["latency_p50_seconds"]
    assert evaluation["gpu"]["status"] == "skipped"
    # the metrics are in the state, for the scoring
    with sqlite3.connect(out / "state.sqlite") as db:
        (data,) = db.execute(
            "SELECT data FROM stages WHERE entry = ? AND stage = 'eval'", ("A100/alice/learner",)
        ).fetchone()
    assert {run["name"] for run in json.loads(data)["runs"] if run["finished"]} == {
        r["name"] for r in evaluation["runs"]
    }
    assert (out / "entries" / "A100" / "alice" / "learner" / "eval" / "helm-run.log").is_file()
    assert _rules(report, "eval") == set() and _rules(report, "api") == set()


def test_the_api_violations_are_findings_and_helm_still_scores_the_entry(pipeline_run: tuple[int, Path]) -> None:
    _, out = pipeline_run
    name = "4090/carol/loose-api"
    report = _report(out, name)
    checks = {c["name"]: c["status"] for c in report["eval"]["api"]["checks"]}
    failed = {check for check, status in checks.items() if status == "failed"}
    assert failed and failed <= set(EXPECTED[name]["violations"])
    assert "malformed-not-json" in failed
    assert _rules(report, "api") >= {"RA041", "RA047"}
    evidence = [f["evidence"] for f in report["findings"] if f["rule"] == "RA047"]
    assert evidence and "500" in evidence[0]  # the request and the server's answer are quoted


def test_a_server_too_slow_for_the_limit_keeps_its_finished_runs(pipeline_run: tuple[int, Path]) -> None:
    _, out = pipeline_run
    report = _report(out, "4090/dave/slow-server")
    helm = report["eval"]["helm"]
    assert helm["timed_out"] is True
    assert 1 <= helm["finished"] < helm["planned"] == 3
    finished = [run for run in report["eval"]["runs"] if run["finished"]]
    assert all("exact_match" in run["metrics"] for run in finished)
    assert any("animal_sounds" in name for name in helm["unanswered"])
    assert _rules(report, "eval") == {"RA051"}


def test_a_server_that_never_answers_is_unhealthy_with_its_log(pipeline_run: tuple[int, Path]) -> None:
    _, out = pipeline_run
    report = _report(out, "A100/bob/wrong-port")
    assert report["eval"]["health"]["healthy"] is False
    assert report["eval"]["health"]["attempts"] == 5  # as its overrides say
    finding = next(f for f in report["findings"] if f["rule"] == "RA050")
    assert "8080" in finding["evidence"]  # the server's own log says where it listens
    assert "helm" not in (report["eval"] or {}) or report["eval"]["helm"] is None


def test_training_failures_are_classified_and_skip_the_evaluation(pipeline_run: tuple[int, Path]) -> None:
    _, out = pipeline_run
    expected_rules = {"timeout": "RA031", "oom-killed": "RA032", "cuda-oom": "RA033"}
    for name, expected in EXPECTED.items():
        if expected["train"] in expected_rules:
            assert _rules(_report(out, name), "train") == {expected_rules[expected["train"]]}, name


def test_nothing_of_the_run_is_left_in_the_engine(
    pipeline_run: tuple[int, Path], docker_client: docker.DockerClient
) -> None:
    _, out = pipeline_run
    with sqlite3.connect(out / "state.sqlite") as db:
        run_id = str(db.execute("SELECT value FROM meta WHERE key = 'run_id'").fetchone()[0])
    label = {"label": f"{engine.LABEL_RUN}={run_id}"}
    assert docker_client.api.containers(all=True, filters=label) == []
    assert docker_client.api.networks(filters=label) == []


def test_the_reports_tell_the_evaluation(pipeline_run: tuple[int, Path]) -> None:
    _, out = pipeline_run
    markdown = (out / "entries" / "A100" / "alice" / "learner" / "report.md").read_text(encoding="utf-8")
    assert "## Evaluation" in markdown and "3 of 3 run(s) finished" in markdown
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["evaluations"]["evaluated"] >= 1 and summary["evaluations"]["unhealthy"] == 1
    assert summary["trainings"]["timeout"] == 1


def test_the_run_is_scored_and_every_entry_has_its_verdict(pipeline_run: tuple[int, Path]) -> None:
    _code, out = pipeline_run
    for name, expected in EXPECTED.items():
        report = _report(out, name)
        assert report["verdict"]["status"] == expected["verdict"], (name, report["verdict"])
        for kind in ("md", "html"):
            assert (out / "entries" / name / f"report.{kind}").is_file(), name
    board = json.loads((out / "leaderboards" / "leaderboard.json").read_text(encoding="utf-8"))
    assert board["scheme"] == "offline-fixtures"  # found next to the evaluation conf
    a100 = board["tracks"]["A100"]["entries"]
    assert a100[0]["name"] == "A100/alice/learner" and a100[0]["rank"] == 1
    assert a100[0]["verdict"]["status"] == "reproducible"
    assert a100[0]["intervals"]["rank"] is not None  # HELM's per-instance results were kept for the bootstrap
    learner = _report(out, "A100/alice/learner")["scores"]
    assert learner["rank"] == 1 and learner["entries"] == 4
    em = {m["title"]: m for s in learner["scenarios"] for m in s["metrics"]}["Capitals - EM"]
    assert em["instances"] == 25 and em["value"] >= 0.7
    for kind in ("md", "csv", "json"):
        assert (out / "leaderboards" / f"leaderboard.{kind}").is_file()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["verdicts"] == {"reproducible": 1, "reproducible-with-deviations": 1, "not-reproducible": 5,
                                   "not-evaluated": 0}  # fmt: skip
    classes = {c["class"]: c["entries"] for c in summary["failure_classes"]}
    assert classes["training timeout"] == 1 and classes["out of memory"] == 2 and classes["evaluation timeout"] == 1
