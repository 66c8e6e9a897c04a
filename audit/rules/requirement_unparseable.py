"""RA307: a requirement-file line that pip cannot read."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.views.entry import EntryView


class RequirementUnparseable(Rule):
    id = "RA307"
    name = "requirement-unparseable"
    family = "requirements"
    severity = Severity.LOW
    summary = "requirement line pip cannot parse"
    explanation = (
        "pip stops with an error on a line it cannot parse, so a build that installs this file fails; "
        "the line was not graded."
    )
    fix = "Write the line as a PEP 508 requirement (`name==1.2.3`) or a pip option."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for reached in view.dependency_files:
            if reached.kind not in ("requirements", "constraints"):
                continue
            for invalid in reached.parsed.invalid:
                yield self.finding(
                    invalid.message.splitlines()[0][:200] or "pip cannot parse this line",
                    reached.path,
                    invalid.line,
                    target=reached.target,
                    severity=Severity.HIGH if reached.target else None,
                )
