"""RA502: a COPY/ADD source that `.dockerignore` excludes from the context."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Location, Severity
from audit.rules.base import Rule
from audit.rules.copies import all_excluded, copy_sources
from audit.views.entry import EntryView


class CopySourceDockerignored(Rule):
    id = "RA502"
    name = "copy-source-dockerignored"
    family = "host-local"
    severity = Severity.HIGH
    summary = "COPY/ADD of a file that .dockerignore excludes"
    explanation = (
        "The file is in the repository but `.dockerignore` keeps it out of the build context, so the COPY "
        "fails (or, for a folder, copies it empty). Often it worked for the submitter only because an "
        "older image layer was cached."
    )
    fix = "Add an exception (`!path/to/file`) to .dockerignore, or stop copying the file."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for copy in copy_sources(view):
            res = copy.resolution
            if copy.whole_context or not all_excluded(res.matches, res.dockerignored):
                continue
            ignore_file = copy.context.dockerignore_file
            yield self.finding(
                f"{copy.instruction.keyword} source {res.source!r} is excluded by {ignore_file}",
                copy.dockerfile,
                copy.instruction.start,
                target=copy.dockerfile,
                evidence=copy.instruction.value,
                related=(Location(ignore_file),) if ignore_file else (),
            )
