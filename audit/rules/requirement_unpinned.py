"""RA301: a requirement-file, environment.yml or pyproject.toml dependency not pinned exactly."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.pins import describe, unpinned, unpinned_severity
from audit.views.entry import EntryView


class RequirementUnpinned(Rule):
    id = "RA301"
    name = "requirement-unpinned"
    family = "requirements"
    severity = Severity.HIGH
    summary = "dependency file line without an exact version"
    explanation = (
        "Every line of a requirement file that a build installs is as good as a `pip install` in the "
        "Dockerfile: a bare name or `>=` takes the newest release on the day of the rebuild (high); a "
        "bounded range or `==X.*` still moves inside its range (medium). hadolint never opens these files."
    )
    fix = "Pin every line with `==` (generate a lock with `pip-compile --generate-hashes` or `pip freeze`)."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for reached in view.dependency_files:
            for line in reached.parsed.requirements:
                if unpinned(line.graded):
                    yield self.finding(
                        f"{describe(line.graded)}",
                        reached.path,
                        line.line,
                        target=reached.target,
                        severity=unpinned_severity(line.graded),
                        evidence=line.graded.text,
                    )
