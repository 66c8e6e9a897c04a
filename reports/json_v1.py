"""The JSON report, schema version 1: a documented shape of its own, independent of internal classes.

{"schema_version": 1, "tool": {...}, "summary": {...}, "entries": [{"name", "path", "track", "targets": [...],
 "findings": [{"rule", "name", "family", "severity", "confidence", "message", "path", "line", "target",
 "fix", "evidence", "suppressed"}], "secrets": [...]}], "shared_secrets": [...]}. `path` is relative to the
entry, `line` 1-based or null. A location deeper than a file line adds `member` (inside an archive),
`cell`/`output` (notebook), `offset` (bytes, binary) or `commit` (git history); a secret finding adds
`secret` {kind, fingerprint, redacted, lives, added_in, removed_in, in_tree, liveness}. No field ever holds
a secret: only its redacted label and salted fingerprint.
Fields are only ever added within a schema version; removals or meaning changes bump it.
"""

from __future__ import annotations

import json
from typing import Any

from audit import __version__
from audit.model import CheckResult, EntryReport, SecretSummary, Severity
from audit.serialize import finding_dict

SCHEMA_VERSION = 1


def render(result: CheckResult) -> str:
    return json.dumps(document(result), indent=2, ensure_ascii=False) + "\n"


def document(result: CheckResult) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "repro-audit", "version": __version__},
        "fail_on": result.fail_on.label,
        "summary": summary(result),
        "entries": [_entry(report) for report in result.entries],
        "shared_secrets": [{**_secret_summary(secret), "entries": names} for secret, names in result.shared_secrets()],
    }


def summary(result: CheckResult) -> dict[str, Any]:
    counts = {s.label: 0 for s in sorted(Severity, reverse=True)}
    suppressed = 0
    for finding in result.all_findings():
        if finding.counts:
            counts[finding.severity.label] += 1
        else:
            suppressed += 1
    return {
        "entries": len(result.entries),
        "targets": sum(len(r.entry.targets) for r in result.entries),
        "findings": counts,
        "suppressed": suppressed,
        "failing": len(result.failing()),
    }


def _entry(report: EntryReport) -> dict[str, Any]:
    entry = report.entry
    return {
        "name": entry.name,
        "path": entry.root,
        "track": entry.track,
        "config": report.config_source,
        "files": report.files_scanned,
        "targets": [
            {"dockerfile": t.dockerfile, "context": t.context, "role": t.role.value, "role_reason": t.role_reason}
            for t in entry.targets
        ],
        "findings": [finding_dict(f) for f in report.findings],
        "secrets": [_secret_summary(s) for s in report.secrets],
    }


def _secret_summary(secret: SecretSummary) -> dict[str, Any]:
    return {
        "kind": secret.kind,
        "label": secret.label,
        "fingerprint": secret.fingerprint,
        "redacted": secret.redacted,
        "lives": secret.lives,
        "paths": list(secret.paths),
    }
