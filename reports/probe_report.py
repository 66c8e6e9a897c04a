"""What `repro-audit probe` found, for people (the terminal) and for machines (JSON, schema version 1).

Renders the finished, versioned document `rebuild.probe.ProbeReport.document()` makes:

    {"schema_version": 1, "url": str, "reachable": bool, "passed": bool, "error": str | null,
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

_STATUS = {"passed": ("passed ", "green"), "failed": ("FAILED ", "bold red"), "skipped": ("skipped", "yellow")}


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render(doc: dict[str, Any], console: Console) -> None:
    console.print(Text.assemble(("Probe of ", "bold"), (doc["url"], "bold")))
    if not doc["reachable"]:
        console.print(
            Text(
                f"  no HTTP answer: {doc['error']}. Is the server running, and listening on this address and port?",
                style="bold red",
            )
        )
        return
    checks = doc["checks"]
    width = max(len(check["name"]) for check in checks) if checks else 0
    for check in checks:
        _check(check, width, console)
    console.print(_summary(doc))


def _check(check: dict[str, Any], width: int, console: Console) -> None:
    label, style = _STATUS[check["status"]]
    console.print(Text.assemble("  ", (label, style), "  ", (check["name"].ljust(width), "bold"), "  ", check["title"]))
    indent = " " * (2 + len(label) + 2)
    console.print(Text(f"{indent}{check['detail']}", style="dim" if check["status"] == "passed" else ""))
    request = check.get("request")
    if request is not None:
        body = request.get("body")
        sent = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        console.print(Text(f"{indent}request: {request['method']} {request['path']} {sent}"))
    if check.get("response_excerpt") is not None:
        console.print(Text(f"{indent}answer:  {check['response_excerpt']}"))


def _summary(doc: dict[str, Any]) -> Text:
    checks = doc["checks"]
    counts = {status: sum(1 for c in checks if c["status"] == status) for status in _STATUS}
    latency = doc["latency"]
    timing = (
        f"; {latency['requests']} request(s) answered, p50 {latency['p50_seconds']:.3f} s, "
        f"p95 {latency['p95_seconds']:.3f} s"
        if latency["p50_seconds"] is not None and latency["p95_seconds"] is not None
        else "; no request answered with 200"
    )
    passed = doc["passed"]
    verdict = ("the server keeps the contract", "green") if passed else ("the server breaks the contract", "red")
    if counts["failed"] == 0 and not passed:
        verdict = ("some checks could not run", "yellow")
    return Text.assemble(
        f"{counts['passed']} of {len(checks)} checks passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped{timing}: ",
        verdict,
    )
