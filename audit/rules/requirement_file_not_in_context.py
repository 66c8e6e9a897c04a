"""RA509: `pip install -r X` (or a nested `-r`) where X is not in the build context."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.views.entry import EntryView


class RequirementFileNotInContext(Rule):
    id = "RA509"
    name = "requirement-file-not-in-context"
    family = "host-local"
    severity = Severity.HIGH
    summary = "a requirement file the build installs is not in the build context"
    explanation = (
        "The build copies a folder and then installs a requirement file that should be in it, or a "
        "requirement file includes another with `-r` that does not exist: pip stops with "
        "`Could not open requirements file` on every machine but the submitter's."
    )
    fix = "Commit the requirement file next to the Dockerfile (inside the build context)."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for missing in view.missing_requirement_files:
            yield self.finding(
                f"{missing.requested!r} is read by the build but {missing.expected!r} is not in the repository",
                missing.where,
                missing.line,
                target=missing.target,
                evidence=missing.requested,
            )
