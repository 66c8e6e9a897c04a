"""RA505: a COPY/ADD source listed in `.gitignore`: it exists only on the submitter's machine."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.copies import all_excluded, copy_sources
from audit.views.entry import EntryView


class CopySourceGitignored(Rule):
    id = "RA505"
    name = "copy-source-gitignored"
    family = "host-local"
    severity = Severity.HIGH
    summary = "COPY/ADD of a file that .gitignore keeps out of git"
    explanation = (
        "The file is ignored by git, so it is on the submitter's disk (the build works there) but not in "
        "any clone of the repository: the organizers' build fails. Model weights, `.env` files and data "
        "folders are the usual cases."
    )
    fix = "Commit the file (force-add it or narrow the .gitignore pattern), or produce it inside the build."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for copy in copy_sources(view):
            res = copy.resolution
            if copy.whole_context or res.outside_context or res.context_path is None:
                continue
            if res.matches:
                ignored = all_excluded(res.matches, res.gitignored)
                state = "is here but listed in .gitignore"
            else:
                ignored = copy.context.gitignored(res.context_path)
                state = "is missing and listed in .gitignore"
            if ignored:
                yield self.finding(
                    f"{copy.instruction.keyword} source {res.source!r} {state}: only the submitter's machine has it",
                    copy.dockerfile,
                    copy.instruction.start,
                    target=copy.dockerfile,
                    evidence=copy.instruction.value,
                )
