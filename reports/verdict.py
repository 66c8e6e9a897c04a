"""An entry's reproducibility verdict, its stage timeline and its failure classes, from its report document.

The verdict is the first line of every report:

- not reproducible: a stage the evaluation depends on failed: the build, the training (timeout, out of
  memory, crash), or the evaluation itself (server never healthy, out of time, HELM failed);
- not evaluated: the evaluation did not run (not asked for, no host, no HELM, stopped before);
- reproducible with deviations: evaluated, but something differs from what was promised: metrics or
  scores outside their tolerance of the claimed ones, the API contract broken, two builds not identical;
- reproducible: built, trained and evaluated within the limits, and within tolerance of the claims.
"""

from __future__ import annotations

from typing import Any

REPRODUCIBLE = "reproducible"
WITH_DEVIATIONS = "reproducible-with-deviations"
NOT_REPRODUCIBLE = "not-reproducible"
NOT_EVALUATED = "not-evaluated"
STATUSES = (REPRODUCIBLE, WITH_DEVIATIONS, NOT_REPRODUCIBLE, NOT_EVALUATED)

FAILED = ("failed", "errored")
FAILURE_CLASSES = (
    "failed to build",
    "build timeout",
    "training timeout",
    "out of memory",
    "server never healthy",
    "evaluation timeout",
    "HELM failed",
    "leaked credentials",
)
"""What the competition's organizers reported as prose, counted per entry (an entry can be in several)."""


def verdict(doc: dict[str, Any]) -> dict[str, str]:
    stages = {s["stage"]: s for s in doc.get("stages", [])}
    build = stages.get("build")
    if build is not None and build["status"] in FAILED:
        return _says(NOT_REPRODUCIBLE, f"the build failed: {_reason(build)}")
    train = stages.get("train")
    if train is not None and train["status"] in FAILED:
        end = (doc.get("train") or {}).get("end")
        return _says(NOT_REPRODUCIBLE, f"training {_train_end(end)}: {_reason(train)}")
    evaluation = doc.get("eval")
    stage = stages.get("eval")
    if evaluation is None or stage is None:
        why = (stage or {}).get("reason") or "the eval stage did not run"
        return _says(NOT_EVALUATED, str(why))
    outcome = evaluation.get("outcome")
    if outcome == "unhealthy":
        return _says(NOT_REPRODUCIBLE, f"the inference server never became healthy: {_reason(stage)}")
    if outcome == "eval-timeout":
        return _says(NOT_REPRODUCIBLE, f"the evaluation did not finish in time: {_reason(stage)}")
    if outcome == "helm-failed":
        return _says(NOT_REPRODUCIBLE, f"HELM failed: {_reason(stage)}")
    if outcome != "evaluated":
        helm = evaluation.get("helm") or {}
        return _says(NOT_EVALUATED, str(helm.get("reason") or stage.get("reason") or f"evaluation {outcome}"))
    deviations = _deviations(doc)
    if doc.get("scores") is None and evaluation.get("runs"):
        deviations.append("none of its HELM runs has a metric of the scoring scheme: not scored (see --scheme)")
    if deviations:
        return _says(WITH_DEVIATIONS, "; ".join(deviations))
    scores = doc.get("scores") or {}
    compared = any(t.get("claimed") is not None for t in scores.get("totals", []))
    tail = "every metric within tolerance of the claimed results" if compared else "no claimed results to compare"
    return _says(REPRODUCIBLE, f"built, trained and evaluated within the limits; {tail}")


def _deviations(doc: dict[str, Any]) -> list[str]:
    found = []
    scores = doc.get("scores") or {}
    metrics = scores.get("deviations") or []
    if metrics:
        shown = ", ".join(metrics[:3]) + (f" and {len(metrics) - 3} more" if len(metrics) > 3 else "")
        found.append(f"{len(metrics)} metric(s) outside tolerance of the claimed values ({shown})")
    for total in scores.get("totals", []):
        if total["name"] == "full" and total.get("within") is False:
            found.append(f"final score {_number(total.get('value'))} against {_number(total.get('claimed'))} claimed")
    claimed_rank, interval = scores.get("claimed_rank"), scores.get("rank_interval")
    if scores.get("rank_change") and not (interval and interval[0] <= claimed_rank <= interval[1]):
        # a claimed rank inside the bootstrap's rank interval is what resampling alone can give
        change = scores["rank_change"]
        found.append(f"ranks {scores.get('rank')} instead of the claimed {claimed_rank} ({change:+d})")
    api = (doc.get("eval") or {}).get("api") or {}
    checks = api.get("checks") or []
    broken = [c for c in checks if c.get("status") != "passed"]
    if broken:
        found.append(f"the API contract: {len(broken)} of {len(checks)} checks did not pass")
    for target in (doc.get("build") or {}).get("targets", []):
        determinism = target.get("determinism") or {}
        if determinism and determinism.get("identical") is False:
            found.append(f"two builds of {target.get('dockerfile')} differ")
    return found


def timeline(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Build, train and eval: status, seconds taken and the limit that applied."""
    stages = {s["stage"]: s for s in doc.get("stages", [])}
    limits = {
        "build": (doc.get("build") or {}).get("limit_seconds"),
        "train": (doc.get("train") or {}).get("limit_seconds"),
        "eval": (doc.get("eval") or {}).get("limit_seconds"),
    }
    seconds = {
        "train": (doc.get("train") or {}).get("seconds"),
        "build": _longest_build(doc),
    }
    rows = []
    for name in ("build", "train", "eval"):
        stage = stages.get(name)
        if stage is None:
            continue
        rows.append({
            "stage": name,
            "status": stage["status"],
            "seconds": seconds.get(name) if seconds.get(name) is not None else stage.get("seconds"),
            "limit_seconds": limits[name],
        })  # fmt: skip
    return rows


def _longest_build(doc: dict[str, Any]) -> float | None:
    """The build limit applies per target: the slowest target is the one to compare with it."""
    times = [t["seconds"] for t in (doc.get("build") or {}).get("targets", []) if t.get("seconds") is not None]
    return max(times) if times else None


def failure_classes(doc: dict[str, Any]) -> list[str]:
    classes = set()
    for target in (doc.get("build") or {}).get("targets", []):
        if target.get("status") != "built":
            classes.add("build timeout" if target.get("class") == "timeout" else "failed to build")
            if target.get("class") == "out-of-memory":
                classes.add("out of memory")
    end = (doc.get("train") or {}).get("end")
    if end == "timeout":
        classes.add("training timeout")
    if end in ("oom-killed", "cuda-oom"):
        classes.add("out of memory")
    evaluation = doc.get("eval") or {}
    outcome = evaluation.get("outcome")
    classes.update({"unhealthy": {"server never healthy"}, "eval-timeout": {"evaluation timeout"},
                    "helm-failed": {"HELM failed"}}.get(str(outcome), set()))  # fmt: skip
    if (evaluation.get("server") or {}).get("oom_killed") or any(f.get("rule") == "RA053" for f in doc["findings"]):
        classes.add("out of memory")
    if doc.get("secrets"):
        classes.add("leaked credentials")
    return [c for c in FAILURE_CLASSES if c in classes]


def _reason(stage: dict[str, Any]) -> str:
    return str(stage.get("reason") or "see the stage's log")


def _train_end(end: str | None) -> str:
    return {
        "timeout": "ran past its time limit",
        "oom-killed": "ran out of memory",
        "cuda-oom": "ran out of GPU memory",
        "not-started": "never started",
    }.get(str(end), "failed")


def _says(status: str, reason: str) -> dict[str, str]:
    first_line = " ".join(reason.split())
    return {"status": status, "reason": first_line if len(first_line) <= 300 else first_line[:299] + "…"}


def _number(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "—"
