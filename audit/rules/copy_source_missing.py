"""RA501: a COPY/ADD source that does not exist in the build context."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.copies import copy_sources
from audit.views.entry import EntryView


class CopySourceMissing(Rule):
    id = "RA501"
    name = "copy-source-missing"
    family = "host-local"
    severity = Severity.HIGH
    summary = "COPY/ADD of a file that is not in the build context"
    explanation = (
        "The file existed on the submitter's machine but was never committed, so every other build fails "
        "with `failed to compute cache key: ... not found`. A glob that matches nothing fails the same way."
    )
    fix = "Commit the file (or the script that produces it), or remove the COPY."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for copy in copy_sources(view):
            res = copy.resolution
            if res.matches or res.outside_context or res.submodule or res.context_path is None:
                continue  # RA503 and RA504 report submodules and escapes
            if copy.context.gitignored(res.context_path):
                continue  # RA505 says the file is ignored by git, which explains why it is missing
            kind = "glob" if any(c in res.source for c in "*?[") else "source"
            yield self.finding(
                f"{copy.instruction.keyword} {kind} {res.source!r} matches nothing in the build context "
                f"({copy.context.context!r})",
                copy.dockerfile,
                copy.instruction.start,
                target=copy.dockerfile,
                evidence=copy.instruction.value,
            )
