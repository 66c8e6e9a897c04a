"""RA306: an exact pin without `--hash` in a requirement file."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.views.entry import EntryView
from audit.views.requirements import Pin


class RequirementPinWithoutHash(Rule):
    id = "RA306"
    name = "requirement-pin-without-hash"
    family = "requirements"
    severity = Severity.INFO
    summary = "exact pin without --hash"
    explanation = (
        "An exact version can still resolve to a different file: a new wheel for another platform tag, "
        "or a re-uploaded sdist. Hashes make pip refuse anything but the files that were tested."
    )
    fix = "Generate the file with `pip-compile --generate-hashes` and install with `--require-hashes`."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for reached in view.dependency_files:
            if reached.kind not in ("requirements", "constraints"):
                continue
            for line in reached.parsed.requirements:
                if line.graded.pin is Pin.EXACT:
                    yield self.finding(
                        f"`{line.graded.text}` is pinned but not hashed",
                        reached.path,
                        line.line,
                        target=reached.target,
                        evidence=line.graded.text,
                    )
