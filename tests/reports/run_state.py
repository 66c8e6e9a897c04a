"""A run folder's state made by hand: entries that were built, trained and evaluated (or not), as the
stages record them, so the scoring and the reports are tested without a Docker Engine or HELM (the
pipeline test, tests/rebuild/test_pipeline_run.py, does the same with the real ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.runner.state import EntryRow, State

ROOT = Path(__file__).resolve().parents[2]
OFFLINE_CONF = ROOT / "fixtures/evalsets/offline/offline.conf"
SETS = ("capitals", "colours", "animal_sounds")


def run_name(question_set: str) -> str:
    return f"custom_mcqa,path={question_set}.jsonl,method=multiple_choice_joint:model=neurips_local"


def runs(correct: dict[str, int], total: int = 25, offset: int = 0) -> list[dict[str, Any]]:
    """Finished HELM runs with `correct` of `total` answers right, per question set; `offset` moves which
    instances are right (entries that got different questions right)."""
    out = []
    for question_set, right in correct.items():
        values = [1.0 if (i - offset) % total < right else 0.0 for i in range(total)]
        out.append({
            "name": run_name(question_set),
            "finished": True,
            "instances": total,
            "metrics": {"exact_match": right / total, "exact_match (robustness)": right / total},
            "per_instance": {"exact_match": values, "exact_match (robustness)": values},
        })  # fmt: skip
    return out


def _eval_data(outcome: str, correct: dict[str, int] | None, api_failures: int = 0, offset: int = 0) -> dict[str, Any]:
    checks = [{"name": f"c{i}", "title": f"check {i}", "status": "passed", "detail": "ok"} for i in range(6)]
    for check in checks[:api_failures]:
        check["status"] = "failed"
        check["detail"] = "`tokens[0].logprob` is a string, expected a number"
    return {
        "host": "local",
        "track": "cpu",
        "entry_track": "A100",
        "dockerfile": "inference/Dockerfile",
        "outcome": outcome,
        "conf": {"name": "offline.conf", "path": str(OFFLINE_CONF), "unavailable": []},
        "limit_seconds": 600.0,
        "health": {"healthy": outcome != "unhealthy", "attempts": 1, "seconds": 2.0, "error": None},
        "api": {"passed": api_failures == 0, "checks": checks} if outcome != "unhealthy" else None,
        "helm": {"status": "ran", "version": "0.5.16", "finished": len(correct or {}), "planned": 3, "seconds": 9.5},
        "runs": runs(correct or {}, offset=offset),
        "throughput": {"requests": 75, "requests_per_second": 50.0},
    }


ENTRIES: dict[str, dict[str, Any]] = {
    "A100/alice/learner": {"eval": ("passed", _eval_data("evaluated", {"capitals": 22, "colours": 23, "animal_sounds": 22}))},
    "A100/zoe/close": {"eval": ("passed", _eval_data("evaluated", {"capitals": 21, "colours": 23, "animal_sounds": 22}, offset=5))},
    "A100/bob/wrong-port": {"eval": ("failed", _eval_data("unhealthy", None))},
    "A100/erin/endless": {"train": ("failed", {"end": "timeout", "seconds": 60.0, "limit_seconds": 60.0}), "eval": None},
    "4090/carol/loose-api": {"eval": ("failed", _eval_data("evaluated", {"capitals": 22, "colours": 23, "animal_sounds": 22}, api_failures=2))},
    "4090/dave/slow": {"eval": ("failed", _eval_data("eval-timeout", {"capitals": 25}))},
    "4090/ivy/<script>alert(1)</script>": {"build": ("failed", None), "eval": None},
}  # fmt: skip


def make_run(folder: Path, *, secret_entry: str | None = "A100/zoe/close") -> Path:
    """A run folder whose state holds ENTRIES; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    state = State(folder / "state.sqlite")
    try:
        state.add_entries(
            EntryRow(name, position, name.split("/")[0], "folder", f"/archive/{name}", f"entries/{name}", {})
            for position, name in enumerate(ENTRIES)
        )
        for name, stages in ENTRIES.items():
            static: dict[str, Any] = {"targets": [], "secrets": []}
            if name == secret_entry:
                static["secrets"] = [{"kind": "huggingface", "redacted": "hf_…[redacted]", "fingerprint": "ab12",
                                      "lives": "tree", "paths": ["train.py"]}]  # fmt: skip
            state.start_stage(name, "static")
            state.finish_stage(name, "static", "passed", data=static)
            build_status, _ = stages.get("build") or ("passed", None)
            targets = [
                {"dockerfile": "inference/Dockerfile", "status": "built" if build_status == "passed" else "failed",
                 "class": None if build_status == "passed" else "missing-file", "seconds": 12.5,
                 "summary": "COPY source missing", "evidence": [{"line": 3, "text": "COPY weights/ /w: not found"}]},
            ]  # fmt: skip
            state.start_stage(name, "build")
            state.finish_stage(
                name,
                "build",
                build_status,
                reason=None if build_status == "passed" else "inference/Dockerfile: missing-file",
                data={"host": "local", "track": "cpu", "limit_seconds": 3600.0, "targets": targets},
            )
            if "train" in stages:
                status, data = stages["train"]
                state.start_stage(name, "train")
                state.finish_stage(name, "train", status, reason="stopped at the training limit of 60 s", data=data)
            if stages.get("eval"):
                status, data = stages["eval"]
                state.start_stage(name, "eval")
                state.finish_stage(
                    name, "eval", status, reason=None if status == "passed" else data["outcome"], data=data
                )
    finally:
        state.close()
    return folder
