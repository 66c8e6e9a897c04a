"""The reports of a run, rendered from its state alone (`repro-audit report DIR` calls only this).

Per entry: `DIR/entries/<name>/report.json` and `report.md` (stages with status, reason and times; the
findings grouped by severity; the secrets). For the batch: `DIR/summary.json` and `DIR/summary.md`
(entries per stage status, findings per rule family and severity, entries ranked by problems, and what
the source itself could not provide). Every text passes through the secret guard before it is written.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit import __version__
from audit.model import Severity
from audit.runner.state import EntryRow, StageRow, State
from reports import leaderboard, verdict
from reports.guard import guard
from reports.markdown import cell as _md
from reports.markdown import code as _code
from reports.markdown import number as _num
from reports.score_inputs import DEFAULT_TRACK, ScoreInputError, Settings, score_run
from reports.scoring import SchemeError

SCHEMA_VERSION = 1
_SEVERITIES = [s.label for s in sorted(Severity, reverse=True)]
_WEIGHT = {"high": 1000, "medium": 30, "low": 1, "info": 0}


@dataclass(frozen=True)
class EntryDocument:
    name: str
    document: dict[str, Any]


def write_all(state: State, run_dir: Path, scoring: Settings | None = None) -> list[Path]:
    """Every report of the run, from the state; returns the files written. Per entry report.json, .md
    and .html; the leaderboards of every track (leaderboards/); the summary (summary.json, .md, .html)."""
    from reports import html

    written = []
    documents = [entry_document(state, entry) for entry in state.entries()]
    board, scored = _score(state, documents, scoring or Settings())
    for doc in documents:
        folder = run_dir / "entries" / doc.name
        folder.mkdir(parents=True, exist_ok=True)
        written.append(_write(folder / "report.json", json.dumps(doc.document, indent=2, ensure_ascii=False) + "\n"))
        written.append(_write(folder / "report.md", entry_markdown(doc.document)))
        written.append(_write(folder / "report.html", html.entry_html(doc.document)))
    boards = run_dir / "leaderboards"
    if board is None and boards.is_dir():
        for stale in boards.glob("*"):  # not scored this time: last time's leaderboards would mislead
            if stale.name.startswith(("leaderboard.", "index.")):
                stale.unlink()
    if board is not None:
        boards.mkdir(exist_ok=True)
        written.append(_write(boards / "leaderboard.json", leaderboard.render_json(board)))
        written.append(_write(boards / "leaderboard.md", leaderboard.render_markdown(board)))
        written.append(_write(boards / "leaderboard.csv", leaderboard.render_csv(board)))
        written.append(_write(boards / "index.html", html.leaderboard_html(board)))
    summary = summary_document(state, [d.document for d in documents]) | {"scoring": scored}
    if board is not None:
        summary["leaderboards"] = {
            track: f"leaderboards/index.html#track-{html.track_slug(track)}" for track in board["tracks"]
        }
    written.append(_write(run_dir / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n"))
    written.append(_write(run_dir / "summary.md", summary_markdown(summary)))
    written.append(_write(run_dir / "summary.html", html.summary_html(summary)))
    return written


def _score(
    state: State, documents: list[EntryDocument], settings: Settings
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Score the run, put each entry's scores, verdict and timeline into its document, and make the
    leaderboards. Scoring that cannot be done (a scheme file in error) is said in the summary; the
    entries still get their verdicts."""
    board = None
    results: list[leaderboard.TrackResult] = []
    options: leaderboard.Options | None = None
    try:
        results, options, warnings = score_run(state, settings)
        scored = {"status": "scored", "scheme": options.scheme.name, "definition": options.definition.value,
                  "warnings": warnings}  # fmt: skip
    except (SchemeError, ScoreInputError) as exc:
        scored = {"status": "skipped", "reason": str(exc), "warnings": []}
    by_track = {r.scores.track: r for r in results}
    for doc in documents:
        track = by_track.get(doc.document["track"] or DEFAULT_TRACK)
        scored_entry = track.scores.entry(doc.name) if track is not None else None
        measured = scored_entry is not None and any(v is not None for v in scored_entry.metrics.values())
        # an entry with no metric at all still counts in its track's win rates, but has no scores to show
        doc.document["scores"] = leaderboard.entry_section(track, doc.name) if track and measured else None
        doc.document["verdict"] = verdict.verdict(doc.document)
        doc.document["timeline"] = verdict.timeline(doc.document)
    if options is not None and any(doc.document.get("eval") for doc in documents):
        extras = {
            doc.name: {"verdict": doc.document["verdict"], "report": f"entries/{doc.name}/report.html"}
            for doc in documents
        }
        board = leaderboard.document(results, options, extras)
    return board, scored


def entry_document(state: State, entry: EntryRow) -> EntryDocument:
    stages = state.stages(entry.name)
    findings = state.findings(entry.name)
    static = next((s for s in stages if s.stage == "static"), None)
    static_data = static.data if static is not None else {}
    build = next((s for s in stages if s.stage == "build"), None)
    train = next((s for s in stages if s.stage == "train"), None)
    evaluation = next((s for s in stages if s.stage == "eval"), None)
    artifacts = state.artifacts(entry.name)
    document = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "repro-audit", "version": __version__},
        "name": entry.name,
        "track": entry.track,
        "verdict": None,  # filled in once the run is scored (write_all)
        "source": {"kind": entry.source_kind, "where": entry.source},
        "path": entry.path,
        "commit": entry.data.get("commit"),
        "pinned": entry.data.get("pinned"),
        "targets": static_data.get("targets", []),
        "bot_dockerfile": static_data.get("bot_dockerfile"),
        "stages": [_stage(s) for s in stages],
        "counts": _counts(findings),
        "findings": findings,
        "secrets": static_data.get("secrets", []),
        "build": _build(build),
        "train": _train(train, artifacts.get("train/train.log")),
        "eval": _evaluation(evaluation, artifacts),
        "timeline": [],
        "scores": None,
    }
    return EntryDocument(entry.name, document)


def _build(row: StageRow | None) -> dict[str, Any] | None:
    """The build stage's results as the report shows them: the host, and per target what came of it."""
    if row is None or not row.data.get("targets"):
        return None
    data = row.data
    return {
        "host": data.get("host"),
        "track": data.get("track"),
        "endpoint": data.get("endpoint"),
        "limit_seconds": data.get("limit_seconds"),
        "targets": data["targets"],
    }


def _train(row: StageRow | None, log: str | None) -> dict[str, Any] | None:
    """The training run as the report shows it: how it ended, against which limit, on which host."""
    if row is None or "end" not in row.data:
        return None
    keys = ("host", "track", "entry_track", "dockerfile", "end", "summary", "exit_code", "oom_killed", "seconds",
            "limit_seconds", "memory_limit", "output_mount", "output", "gpu", "note", "log_tail")  # fmt: skip
    return {key: row.data.get(key) for key in keys} | {"log": log}


def _evaluation(row: StageRow | None, artifacts: dict[str, str]) -> dict[str, Any] | None:
    """The evaluation as the report shows it: health, the API contract, HELM's runs and their metrics,
    throughput. The metrics are kept whole (per run, as HELM named them) for the scoring."""
    if row is None or "outcome" not in row.data:
        return None
    data = row.data
    keys = ("host", "track", "entry_track", "dockerfile", "outcome", "conf", "limit_seconds", "weights", "health",
            "api", "helm", "runs", "throughput", "gpu", "server", "server_log_tail")  # fmt: skip
    logs = {kind: artifacts.get(f"eval/{kind}") for kind in ("server.log", "helm-run.log", "helm-summarize.log")}
    shown = {key: data.get(key) for key in keys} | {"logs": {k: v for k, v in logs.items() if v}}
    # the per-instance values are for the bootstrap (read from the state), not for the report
    shown["runs"] = [{k: v for k, v in run.items() if k != "per_instance"} for run in data.get("runs") or []]
    return shown


def _stage(row: StageRow) -> dict[str, Any]:
    return {
        "stage": row.stage,
        "status": row.status,
        "reason": row.reason,
        "started": row.started,
        "ended": row.ended,
        "seconds": _seconds(row),
        "attempts": row.attempts,
        "host": row.host,
    }


def _seconds(row: StageRow) -> float | None:
    from datetime import datetime

    if not row.started or not row.ended:
        return None
    return round((datetime.fromisoformat(row.ended) - datetime.fromisoformat(row.started)).total_seconds(), 3)


def _counts(findings: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(_SEVERITIES, 0)
    for finding in findings:
        if finding.get("suppressed") is None:
            counts[finding["severity"]] += 1
    counts["suppressed"] = sum(1 for f in findings if f.get("suppressed") is not None)
    return counts


def summary_document(state: State, entries: list[dict[str, Any]]) -> dict[str, Any]:
    per_stage: dict[str, Counter[str]] = {}
    for row in state.stages():
        per_stage.setdefault(row.stage, Counter())[row.status] += 1
    families: dict[str, Counter[str]] = {}
    for entry in entries:
        for finding in entry["findings"]:
            if finding.get("suppressed") is None:
                families.setdefault(finding["family"], Counter())[finding["severity"]] += 1
    ranked = sorted(entries, key=lambda e: (-_problem_score(e), e["name"]))
    builds: Counter[str] = Counter()
    for entry in entries:
        for target in (entry.get("build") or {}).get("targets", []):
            builds[target.get("class") or target["status"]] += 1
    trainings = Counter(entry["train"]["end"] for entry in entries if entry.get("train"))
    evaluations = Counter(entry["eval"]["outcome"] for entry in entries if entry.get("eval"))
    verdicts = Counter((entry.get("verdict") or verdict.verdict(entry))["status"] for entry in entries)
    failures = Counter(c for entry in entries for c in verdict.failure_classes(entry))
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "repro-audit", "version": __version__},
        "entries": len(entries),
        "stages": {stage: dict(sorted(c.items())) for stage, c in per_stage.items()},
        "families": {family: {s: c.get(s, 0) for s in _SEVERITIES} for family, c in sorted(families.items())},
        "builds": dict(sorted(builds.items(), key=lambda item: (-item[1], item[0]))),
        "trainings": dict(sorted(trainings.items(), key=lambda item: (-item[1], item[0]))),
        "evaluations": dict(sorted(evaluations.items(), key=lambda item: (-item[1], item[0]))),
        "verdicts": {status: verdicts.get(status, 0) for status in verdict.STATUSES},
        "failure_classes": [
            {"class": name, "entries": failures[name], "share": failures[name] / len(entries) if entries else 0.0}
            for name in verdict.FAILURE_CLASSES
        ],
        "ranking": [
            {
                "name": e["name"],
                "track": e["track"],
                "counts": e["counts"],
                "stages": {s["stage"]: s["status"] for s in e["stages"]},
                "verdict": (e.get("verdict") or {}).get("status"),
            }
            for e in ranked
        ],
        "sources": state.sources(),
    }


def _problem_score(entry: dict[str, Any]) -> int:
    failed = sum(1 for s in entry["stages"] if s["status"] in ("failed", "errored"))
    weighted = sum(_WEIGHT.get(key, 0) * int(count) for key, count in entry["counts"].items())
    return failed * 100_000 + weighted


# ---- Markdown ---------------------------------------------------------------------------------------


def entry_markdown(doc: dict[str, Any]) -> str:
    lines = [f"# {_md(doc['name'])}", ""]
    said = doc.get("verdict")
    if said:
        lines += [f"**{VERDICT_TITLES.get(said['status'], said['status'])}**: {_md(said['reason'])}", ""]
    source = doc["source"]
    lines.append(f"- track: {doc['track'] or 'unknown'}")
    lines.append(f"- source: {source['kind']} `{_code(source['where'])}`")
    if doc.get("commit"):
        pinned = "pinned by the manifest" if doc.get("pinned") else "NOT pinned: the default branch's head"
        lines.append(f"- commit: `{doc['commit']}` ({pinned})")
    if doc.get("bot_dockerfile"):
        lines.append(f"- Dockerfile the competition's bot would have built: `{_code(doc['bot_dockerfile'])}`")
    counts = doc["counts"]
    lines.append(
        "- findings: " + ", ".join(f"{counts[s]} {s}" for s in _SEVERITIES) + f", {counts['suppressed']} suppressed"
    )
    if doc.get("scores"):
        lines += _scores_markdown(doc["scores"])
    lines += ["", "## Stages", "", "| stage | status | seconds | reason |", "|---|---|---|---|"]
    for stage in doc["stages"]:
        seconds = "" if stage["seconds"] is None else f"{stage['seconds']:.2f}"
        lines.append(f"| {stage['stage']} | {stage['status']} | {seconds} | {_md(stage['reason'] or '')} |")
    if doc["targets"]:
        lines += ["", "## Build targets", ""]
        for target in doc["targets"]:
            lines.append(
                f"- `{_code(target['dockerfile'])}`: {target['role']} ({_md(target['role_reason'])}; "
                f"context `{_code(target['context'])}`)"
            )
    if doc.get("build"):
        lines += _build_markdown(doc["build"])
    if doc.get("train"):
        lines += _train_markdown(doc["train"])
    if doc.get("eval"):
        lines += _eval_markdown(doc["eval"])
    for severity in _SEVERITIES:
        found = [f for f in doc["findings"] if f["severity"] == severity and f.get("suppressed") is None]
        if found:
            lines += ["", f"## {severity.capitalize()} ({len(found)})", ""]
            lines += [_finding_line(f) for f in found]
    suppressed = [f for f in doc["findings"] if f.get("suppressed") is not None]
    if suppressed:
        lines += ["", f"## Suppressed ({len(suppressed)})", ""]
        lines += [_finding_line(f) + f" — {_md(f['suppressed']['reason'])}" for f in suppressed]
    if doc["secrets"]:
        lines += ["", f"## Secrets ({len(doc['secrets'])} distinct)", ""]
        for secret in doc["secrets"]:
            lines.append(
                f"- {secret['kind']} `{secret['redacted']}` [{secret['fingerprint']}], in {secret['lives']}: "
                + ", ".join(f"`{_code(p)}`" for p in secret["paths"])
            )
    if not doc["findings"]:
        lines += ["", "Nothing found."]
    return "\n".join(lines) + "\n"


FENCE = "`" * 3
VERDICT_TITLES = {
    verdict.REPRODUCIBLE: "Reproducible",
    verdict.WITH_DEVIATIONS: "Reproducible with deviations",
    verdict.NOT_REPRODUCIBLE: "Not reproducible",
    verdict.NOT_EVALUATED: "Not evaluated",
}


def _scores_markdown(scores: dict[str, Any]) -> list[str]:
    rank = scores.get("rank")
    where = f"rank {rank} of {scores['entries']}" if rank is not None else f"not ranked among {scores['entries']}"
    if scores.get("rank_interval"):
        low, high = scores["rank_interval"]
        where += f" (95% interval {low} to {high})"
    if scores.get("claimed_rank") is not None:
        where += f", claimed {scores['claimed_rank']}"
    lines = ["", "## Scores", "", f"Track {_md(scores['track'])}: {where}; win rate: {scores['definition']}."]
    lines += ["", "| score | reproduced | claimed | difference | 95% interval |", "|---|---|---|---|---|"]
    for total in scores["totals"]:
        interval = total.get("interval")
        shown = f"[{_num(interval[0])}, {_num(interval[1])}]" if interval else ""
        lines.append(
            f"| {_md(total['title'])} | {_num(total['value'])} | {_num(total['claimed'])} | "
            f"{_num(total['difference'])} | {shown} |"
        )
    lines += ["", "| scenario | metric | value | claimed | difference | tolerance | within | win rate |"]
    lines.append("|---|---|---|---|---|---|---|---|")
    for scenario in scores["scenarios"]:
        for metric in scenario["metrics"]:
            within = {True: "yes", False: "**no**", None: ""}[metric["within"]]
            lines.append(
                f"| {_md(scenario['title'])} ({_num(scenario['mean_win_rate'])}) | {_md(metric['title'])} | "
                f"{_num(metric['value'])} | {_num(metric['claimed'])} | {_num(metric['difference'])} | "
                f"{_num(metric['tolerance'])} | {within} | {_num(metric['win_rate'])} |"
            )
    for key in ("stability", "note"):
        if scores.get(key):
            lines += ["", f"{key.capitalize()}: {_md(scores[key])}."]
    return lines


def _build_markdown(build: dict[str, Any]) -> list[str]:
    limit = build.get("limit_seconds")
    lines = ["", "## Builds", ""]
    lines.append(
        f"On host `{_code(str(build.get('host')))}` ({build.get('track')}, {_md(str(build.get('endpoint')))})"
        + (f", limit {limit:g} s per build." if limit else ".")
    )
    lines += ["", "| Dockerfile | result | seconds | image |", "|---|---|---|---|"]
    for target in build["targets"]:
        result = target["status"] if target["status"] == "built" else f"**{target.get('class', target['status'])}**"
        seconds = f"{target['seconds']:.1f}" if target.get("seconds") is not None else ""
        image = target.get("image") or {}
        facts = f"`{image['id'][7:19]}` {image['size'] / 1024**2:.1f} MiB, {image['layers']} layers" if image else ""
        lines.append(f"| `{_code(target['dockerfile'])}` | {result} | {seconds} | {facts} |")
    for target in build["targets"]:
        lines += _target_story(target)
    return lines


def _train_markdown(train: dict[str, Any]) -> list[str]:
    lines = ["", "## Training", ""]
    lines.append(
        f"`{_code(str(train['dockerfile']))}` on host `{_code(str(train['host']))}` ({train['track']}): "
        f"**{train['end']}** after {train['seconds']:.1f} s of {train['limit_seconds']:g} s; {_md(train['summary'])}."
    )
    output = train.get("output") or {}
    lines.append(
        f"Output `{_code(str(train['output_mount']))}`: {output.get('files', 0)} file(s), "
        f"{output.get('bytes', 0) / 1024**2:.1f} MiB."
    )
    if train.get("note"):
        lines.append(f"Note: {_md(train['note'])}.")
    gpu = train.get("gpu") or {}
    if gpu.get("status") == "sampled":
        lines.append(
            f"GPU: peak {gpu['peak_memory_mib']:g} MiB of {gpu['total_memory_mib']:g} MiB, utilisation "
            f"{gpu['mean_utilization_percent']:g}% on average ({gpu['samples']} samples)."
        )
    elif gpu:
        lines.append(f"GPU sampling skipped: {_md(str(gpu.get('reason')))}.")
    if train["end"] != "finished" and train.get("log_tail"):
        tail = [line.replace(FENCE, "'" * 3) for line in train["log_tail"][-10:]]
        lines += ["", FENCE + "text", *tail, FENCE]
    if train.get("log"):
        lines += ["", f"Full log: `{_code(train['log'])}`"]
    return lines


def _eval_markdown(evaluation: dict[str, Any]) -> list[str]:
    lines = ["", "## Evaluation", ""]
    conf = evaluation.get("conf") or {}
    lines.append(
        f"`{_code(str(evaluation['dockerfile']))}` on host `{_code(str(evaluation['host']))}` "
        f"({evaluation['track']}), set `{_code(str(conf.get('name')))}`, limit {evaluation['limit_seconds']:g} s: "
        f"**{evaluation['outcome']}**."
    )
    health = evaluation.get("health") or {}
    if health:
        state = "healthy" if health.get("healthy") else f"never healthy ({_md(str(health.get('error')))})"
        lines.append(f"Health: {state} after {health.get('attempts')} attempt(s), {health.get('seconds', 0):.1f} s.")
    api = evaluation.get("api")
    if api:
        failed = [c for c in api.get("checks", []) if c["status"] != "passed"]
        lines += [
            "",
            f"API contract: {len(api.get('checks', [])) - len(failed)} of {len(api.get('checks', []))} checks passed.",
        ]
        lines += [f"- {c['status']}: {_md(c['title'])}: {_md(c.get('detail') or '')}" for c in failed]
    helm = evaluation.get("helm") or {}
    if helm.get("status") == "skipped":
        lines += ["", f"HELM not run: {_md(str(helm.get('reason')))}."]
    elif helm:
        lines += ["", f"HELM {helm.get('version')}: {helm.get('finished')} of {helm.get('planned')} run(s) finished "
                      f"in {helm.get('seconds', 0):.1f} s."]  # fmt: skip
        runs = evaluation.get("runs") or []
        if runs:
            lines += ["", "| run | instances | exact match |", "|---|---|---|"]
            for run in runs:
                score = run["metrics"].get("exact_match") if run["finished"] else None
                shown = f"{score:.3f}" if isinstance(score, float) else ("unanswered" if not run["finished"] else "")
                lines.append(f"| `{_code(run['name'])}` | {run.get('instances') or ''} | {shown} |")
    speed = evaluation.get("throughput") or {}
    if speed.get("requests"):
        lines += ["", f"Throughput: {speed.get('requests_per_second')} requests/s, "
                      f"{speed.get('generated_tokens_per_second')} generated tokens/s; /process latency p50 "
                      f"{speed.get('latency_p50_seconds')} s, p95 {speed.get('latency_p95_seconds')} s."]  # fmt: skip
    gpu = evaluation.get("gpu") or {}
    if gpu.get("status") == "sampled":
        lines.append(f"GPU: peak {gpu['peak_memory_mib']:g} MiB of {gpu['total_memory_mib']:g} MiB.")
    if evaluation["outcome"] != "evaluated" and evaluation.get("server_log_tail"):
        tail = [line.replace(FENCE, "'" * 3) for line in evaluation["server_log_tail"][-10:]]
        lines += ["", "Server log, last lines:", "", FENCE + "text", *tail, FENCE]
    for kind, path in (evaluation.get("logs") or {}).items():
        lines.append(f"- {kind}: `{_code(path)}`")
    return lines


def _target_story(target: dict[str, Any]) -> list[str]:
    """Why a target failed, with the log lines and the static findings that predicted it; what the
    determinism check and the image scan found."""
    lines: list[str] = []
    name = _code(target["dockerfile"])
    if target["status"] != "built":
        step = f" at line {target['step_line']}" if target.get("step_line") else ""
        lines += ["", f"### `{name}`: {target.get('class', target['status'])}{step}", ""]
        lines.append(_md(target.get("summary") or ""))
        if target.get("step"):
            lines += ["", f"Failing step: `{_code(target['step'].strip())}`"]
        if target.get("evidence"):
            lines += ["", FENCE + "text"]
            lines += [f"{e['line']:>5}  {e['text']}".replace(FENCE, "'''") for e in target["evidence"]]
            lines.append(FENCE)
        if target.get("predicted_by"):
            lines += ["", "Predicted by the static audit:"]
            for p in target["predicted_by"]:
                where = p["path"] + (f":{p['line']}" if p.get("line") else "")
                lines.append(f"- **{p['rule']}** `{_code(where)}`: {_md(p['message'])}")
        if target.get("log"):
            lines += ["", f"Full log: `{_code(target['log'])}`"]
    determinism = target.get("determinism")
    if determinism and not determinism.get("identical"):
        lines += ["", f"### `{name}`: not reproducible", ""]
        if determinism.get("error"):
            lines.append(_md(determinism["error"]))
        for difference in determinism.get("files", []):
            lines.append(f"- `{_code(difference['path'])}`: {difference['what']}")
        for difference in determinism.get("config", []):
            lines.append(f"- config `{_code(difference['key'])}` differs")
        if determinism.get("truncated"):
            lines.append(f"- ... {determinism.get('differing_paths')} differing paths in all")
    scan = target.get("image_scan")
    if scan and scan.get("gaps"):
        lines += ["", f"The image scan of `{name}` could not look into:"]
        lines += [f"- {_md(gap)}" for gap in scan["gaps"]]
    return lines


def _finding_line(finding: dict[str, Any]) -> str:
    where = finding["path"] + (f":{finding['line']}" if finding.get("line") else "")
    return f"- **{finding['rule']}** `{_code(where)}`: {_md(finding['message'])}"


def summary_markdown(summary: dict[str, Any]) -> str:
    lines = ["# Run summary", "", f"{summary['entries']} entries.", "", "## Stages", ""]
    statuses = sorted({status for counts in summary["stages"].values() for status in counts})
    lines += ["| stage | " + " | ".join(statuses) + " |", "|---|" + "---|" * len(statuses)]
    for stage, counts in summary["stages"].items():
        lines.append(f"| {stage} | " + " | ".join(str(counts.get(s, 0)) for s in statuses) + " |")
    lines += ["", "## Findings per family", "", "| family | " + " | ".join(_SEVERITIES) + " |"]
    lines.append("|---|" + "---|" * len(_SEVERITIES))
    for family, counts in summary["families"].items():
        lines.append(f"| {family} | " + " | ".join(str(counts[s]) for s in _SEVERITIES) + " |")
    lines += ["", "## Entries, most problems first", "", "| entry | track | stages | " + " | ".join(_SEVERITIES) + " |"]
    lines.append("|---|---|---|" + "---|" * len(_SEVERITIES))
    for entry in summary["ranking"]:
        stages = ", ".join(f"{k} {v}" for k, v in entry["stages"].items())
        counts = entry["counts"]
        lines.append(
            f"| {_md(entry['name'])} | {entry['track'] or ''} | {stages} | "
            + " | ".join(str(counts[s]) for s in _SEVERITIES)
            + " |"
        )
    if summary.get("builds"):
        lines += ["", "## Builds", "", "| result | targets |", "|---|---|"]
        lines += [f"| {result} | {count} |" for result, count in summary["builds"].items()]
    if summary.get("trainings"):
        lines += ["", "## Training", "", "| end | entries |", "|---|---|"]
        lines += [f"| {end} | {count} |" for end, count in summary["trainings"].items()]
    if summary.get("evaluations"):
        lines += ["", "## Evaluation", "", "| outcome | entries |", "|---|---|"]
        lines += [f"| {outcome} | {count} |" for outcome, count in summary["evaluations"].items()]
    if summary.get("verdicts"):
        lines += ["", "## Verdicts", "", "| verdict | entries |", "|---|---|"]
        lines += [f"| {VERDICT_TITLES[k]} | {v} |" for k, v in summary["verdicts"].items()]
    failing = [c for c in summary.get("failure_classes", []) if c["entries"]]
    if failing:
        lines += ["", "## Failure classes", "", "| class | entries | share |", "|---|---|---|"]
        lines += [f"| {c['class']} | {c['entries']} | {c['share']:.0%} |" for c in failing]
    if summary.get("leaderboards"):
        lines += ["", "## Leaderboards", ""]
        lines += [f"- {_md(track)}: `{_code(link)}`" for track, link in summary["leaderboards"].items()]
    scoring = summary.get("scoring") or {}
    if scoring.get("status") == "skipped":
        lines += ["", f"Not scored: {_md(scoring['reason'])}."]
    lines += [f"- scoring: {_md(w)}" for w in scoring.get("warnings", [])]
    problems = [p for source in summary["sources"] for p in source["data"].get("problems", [])]
    refused = [r for source in summary["sources"] for r in source["data"].get("refused", [])]
    if problems or refused:
        lines += ["", "## Source problems", ""]
        lines += [f"- manifest line {p['line']}: {_md(p['message'])}" for p in problems]
        lines += [f"- archive member `{_code(r['member'])}` refused: {_md(r['reason'])}" for r in refused]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> Path:
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", errors="backslashreplace", dir=path.parent, delete=False, prefix=".tmp-"
    ) as handle:
        handle.write(guard(text))
    os.replace(handle.name, path)
    return path
