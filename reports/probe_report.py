"""What `repro-audit probe` found, for people (the terminal) and for machines (JSON, schema version 1).

Consumes a finished `rebuild.probe.ProbeReport`. The JSON document:

    {"schema_version": 1, "url": str, "reachable": bool, "error": str | null,
     "checks": [{"name", "title", "status": "passed" | "failed" | "skipped", "detail",
                 "request": {"method", "path", "body"} | null, "response_excerpt": str | null}],
     "latency": {"requests": int, "p50_seconds": float | null, "p95_seconds": float | null,
                 "by_endpoint": {"/process": {"requests", "p50_seconds", "p95_seconds"}, ...}}}

`latency` counts the requests answered with HTTP 200, wall-clock seconds as the probe saw them.
The caller passes the finished text through the secret guard (the CLI does).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from rebuild.probe import CheckResult, ProbeReport

SCHEMA_VERSION = 1

_STATUS = {"passed": ("passed ", "green"), "failed": ("FAILED ", "bold red"), "skipped": ("skipped", "yellow")}


def document(report: ProbeReport) -> dict[str, Any]:
    endpoints = dict.fromkeys(sample.endpoint for sample in report.samples)
    return {
        "schema_version": SCHEMA_VERSION,
        "url": report.url,
        "reachable": report.reachable,
        "error": report.error,
        "checks": [check.to_dict() for check in report.checks],
        "latency": {
            **report.latency().to_dict(),
            "by_endpoint": {endpoint: report.latency(endpoint).to_dict() for endpoint in endpoints},
        },
    }


def render_json(report: ProbeReport) -> str:
    return json.dumps(document(report), indent=2, ensure_ascii=False) + "\n"


def render(report: ProbeReport, console: Console) -> None:
    console.print(Text.assemble(("Probe of ", "bold"), (report.url, "bold")))
    if not report.reachable:
        console.print(
            Text(
                f"  no HTTP answer: {report.error}. Is the server running, and listening on this address and port?",
                style="bold red",
            )
        )
        return
    width = max(len(check.name) for check in report.checks) if report.checks else 0
    for check in report.checks:
        _check(check, width, console)
    console.print(_summary(report))


def _check(check: CheckResult, width: int, console: Console) -> None:
    label, style = _STATUS[check.status]
    console.print(Text.assemble("  ", (label, style), "  ", (check.name.ljust(width), "bold"), "  ", check.title))
    indent = " " * (2 + len(label) + 2)
    console.print(Text(f"{indent}{check.detail}", style="dim" if check.status == "passed" else ""))
    if check.request is not None:
        body = check.request.get("body")
        sent = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        console.print(Text(f"{indent}request: {check.request['method']} {check.request['path']} {sent}"))
    if check.response_excerpt is not None:
        console.print(Text(f"{indent}answer:  {check.response_excerpt}"))


def _summary(report: ProbeReport) -> Text:
    counts = {status: sum(1 for c in report.checks if c.status == status) for status in _STATUS}
    latency = report.latency()
    timing = (
        f"; {latency.requests} request(s) answered, p50 {latency.p50_seconds:.3f} s, p95 {latency.p95_seconds:.3f} s"
        if latency.p50_seconds is not None and latency.p95_seconds is not None
        else "; no request answered with 200"
    )
    verdict = ("the server keeps the contract", "green") if report.passed else ("the server breaks the contract", "red")
    if counts["failed"] == 0 and not report.passed:
        verdict = ("some checks could not run", "yellow")
    return Text.assemble(
        f"{counts['passed']} of {len(report.checks)} checks passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped{timing}: ",
        verdict,
    )
