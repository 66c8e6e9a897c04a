"""The verdict at the top of every report, the stage timeline and the failure classes."""

from __future__ import annotations

from typing import Any

from reports.verdict import failure_classes, timeline, verdict


def doc(**parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"stages": [], "findings": [], "secrets": [], "build": None, "train": None,
                            "eval": None, "scores": None}  # fmt: skip
    return base | parts


def stage(name: str, status: str, reason: str | None = None, seconds: float = 1.0) -> dict[str, Any]:
    return {"stage": name, "status": status, "reason": reason, "seconds": seconds}


EVALUATED = {"outcome": "evaluated", "api": {"checks": [{"status": "passed"}] * 3}, "limit_seconds": 600.0}


def test_a_failed_build_is_not_reproducible() -> None:
    said = verdict(doc(stages=[stage("build", "failed", "inference/Dockerfile: missing-file")]))
    assert said == {"status": "not-reproducible", "reason": "the build failed: inference/Dockerfile: missing-file"}


def test_training_past_its_limit_is_not_reproducible() -> None:
    said = verdict(doc(stages=[stage("build", "passed"), stage("train", "failed", "stopped at 24h")],
                       train={"end": "timeout"}))  # fmt: skip
    assert said["status"] == "not-reproducible" and said["reason"].startswith("training ran past its time limit")


def test_evaluation_outcomes() -> None:
    for outcome, words in (("unhealthy", "never became healthy"), ("eval-timeout", "did not finish in time"),
                           ("helm-failed", "HELM failed")):  # fmt: skip
        said = verdict(doc(stages=[stage("eval", "failed", "x")], eval={"outcome": outcome}))
        assert said["status"] == "not-reproducible" and words in said["reason"]
    skipped = verdict(doc(stages=[stage("eval", "skipped", "no host of track A100")], eval=None))
    assert skipped == {"status": "not-evaluated", "reason": "no host of track A100"}
    assert verdict(doc(stages=[stage("build", "passed")]))["status"] == "not-evaluated"
    no_helm = verdict(doc(stages=[stage("eval", "skipped")], eval={"outcome": "not-evaluated",
                                                                    "helm": {"reason": "HELM is not installed"}}))  # fmt: skip
    assert no_helm == {"status": "not-evaluated", "reason": "HELM is not installed"}


def test_evaluated_within_the_claims_is_reproducible() -> None:
    scores = {"totals": [{"name": "full", "value": 0.5, "claimed": 0.5, "within": True}], "deviations": []}
    said = verdict(doc(stages=[stage("eval", "passed")], eval=EVALUATED, scores=scores))
    assert said["status"] == "reproducible" and "within tolerance of the claimed" in said["reason"]
    unclaimed = verdict(doc(stages=[stage("eval", "passed")], eval=EVALUATED))
    assert unclaimed["status"] == "reproducible" and "no claimed results" in unclaimed["reason"]


def test_deviations() -> None:
    scores = {
        "totals": [{"name": "full", "value": 0.31, "claimed": 0.52, "within": False}],
        "deviations": ["MMLU - EM", "BBQ - EM", "GSM8K - EM", "TruthfulQA - EM"],
        "rank": 4,
        "claimed_rank": 2,
        "rank_change": -2,
    }
    said = verdict(doc(stages=[stage("eval", "passed")], eval=EVALUATED, scores=scores))
    assert said["status"] == "reproducible-with-deviations"
    assert "4 metric(s) outside tolerance" in said["reason"] and "and 1 more" in said["reason"]
    assert "final score 0.310 against 0.520 claimed" in said["reason"] and "(-2)" in said["reason"]
    broken_api = dict(EVALUATED, api={"checks": [{"status": "failed"}, {"status": "passed"}]})
    said = verdict(doc(stages=[stage("eval", "failed")], eval=broken_api))
    assert said["status"] == "reproducible-with-deviations" and "1 of 2 checks" in said["reason"]
    twice = {"targets": [{"dockerfile": "Dockerfile", "status": "built", "determinism": {"identical": False}}]}
    said = verdict(doc(stages=[stage("eval", "passed")], eval=EVALUATED, build=twice))
    assert said["reason"] == "two builds of Dockerfile differ"


def test_the_reason_is_one_line() -> None:
    said = verdict(doc(stages=[stage("build", "failed", "line one\nline two\t" + "x" * 400)]))
    assert "\n" not in said["reason"] and len(said["reason"]) == 300


def test_timeline_against_limits() -> None:
    build = {"limit_seconds": 3600.0, "targets": [{"seconds": 12.0}, {"seconds": 30.0}]}
    rows = timeline(doc(stages=[stage("build", "passed", seconds=45.0), stage("eval", "passed", seconds=80.0)],
                        build=build, eval=EVALUATED))  # fmt: skip
    assert rows == [
        {"stage": "build", "status": "passed", "seconds": 30.0, "limit_seconds": 3600.0},  # the slowest target
        {"stage": "eval", "status": "passed", "seconds": 80.0, "limit_seconds": 600.0},
    ]


def test_failure_classes() -> None:
    assert failure_classes(doc()) == []
    many = doc(
        build={"targets": [{"status": "failed", "class": "timeout"}, {"status": "failed", "class": "out-of-memory"}]},
        train={"end": "cuda-oom"},
        eval={"outcome": "eval-timeout"},
        secrets=[{"kind": "huggingface"}],
    )
    assert failure_classes(many) == ["failed to build", "build timeout", "out of memory", "evaluation timeout",
                                     "leaked credentials"]  # fmt: skip
    server = doc(eval={"outcome": "helm-failed", "server": {"oom_killed": True}})
    assert failure_classes(server) == ["out of memory", "HELM failed"]
