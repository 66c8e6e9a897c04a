"""Findings as plain JSON-ready dicts, in the shape of the JSON report (schema version 1), and back.

The JSON report, the run's state database and the per-entry reports of `repro-audit run` all store
findings this way, so a finding read back from the state renders exactly as a fresh one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from audit.model import Confidence, Finding, Location, SecretInfo, Severity, Suppression


def location_dict(location: Location) -> dict[str, Any]:
    """The optional parts of a location, only those that are set."""
    parts = {
        "member": location.member,
        "cell": location.cell,
        "output": location.output,
        "offset": location.offset,
        "commit": location.commit,
    }
    return {key: value for key, value in parts.items() if value is not None}


def finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "name": finding.name,
        "family": finding.family,
        "severity": finding.severity.label,
        "confidence": finding.confidence.label,
        "message": finding.message,
        "path": finding.location.path,
        "line": finding.location.line,
        **location_dict(finding.location),
        "target": finding.target,
        "fix": finding.fix,
        "evidence": finding.evidence,
        "related": [{"path": loc.path, "line": loc.line, **location_dict(loc)} for loc in finding.related],
        "suppressed": (
            None
            if finding.suppressed is None
            else {"kind": finding.suppressed.kind, "reason": finding.suppressed.reason}
        ),
        **({"secret": dataclasses.asdict(finding.secret)} if finding.secret is not None else {}),
    }


def finding_from_dict(data: dict[str, Any]) -> Finding:
    """The inverse of `finding_dict` (for findings read back from a run's state)."""
    suppressed = data.get("suppressed")
    secret = data.get("secret")
    return Finding(
        rule=data["rule"],
        name=data["name"],
        family=data["family"],
        severity=Severity.parse(data["severity"]),
        confidence=Confidence[data["confidence"].upper()],
        message=data["message"],
        location=_location_from(data),
        fix=data["fix"],
        target=data.get("target"),
        evidence=data.get("evidence"),
        related=tuple(_location_from(r) for r in data.get("related", [])),
        suppressed=Suppression(suppressed["kind"], suppressed["reason"]) if suppressed else None,
        secret=SecretInfo(**secret) if secret else None,
    )


def _location_from(data: dict[str, Any]) -> Location:
    parts = {k: data[k] for k in ("member", "cell", "output", "offset", "commit") if data.get(k) is not None}
    return Location(data["path"], data.get("line"), **parts)
