"""Findings a stage of `repro-audit run` reports that are not rules over an entry's files: how the entry
reached the run (ingest), why its image did not build (build). They carry ids, severities, explanations
and fixes like rules do, so reports, `repro-audit rules` and suppressions treat them alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.model import Confidence, Finding, Location, Severity


@dataclass(frozen=True)
class StageIssue:
    id: str
    name: str
    severity: Severity
    summary: str
    explanation: str
    fix: str
    family: str
    confidence: Confidence = Confidence.HIGH
    enabled_by_default: bool = True

    def finding(
        self,
        message: str,
        path: str = ".",
        *,
        line: int | None = None,
        target: str | None = None,
        evidence: str | None = None,
        related: tuple[Location, ...] = (),
    ) -> Finding:
        return Finding(
            rule=self.id,
            name=self.name,
            family=self.family,
            severity=self.severity,
            confidence=self.confidence,
            message=message,
            location=Location(path, line),
            fix=self.fix,
            target=target,
            evidence=evidence,
            related=related,
        )
