"""RA504: a COPY/ADD source that escapes the build context with `..`."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.copies import copy_sources
from audit.views.entry import EntryView


class CopySourceOutsideContext(Rule):
    id = "RA504"
    name = "copy-source-outside-context"
    family = "host-local"
    severity = Severity.HIGH
    summary = "COPY/ADD ../something outside the build context"
    explanation = (
        "Docker cannot read outside the build context (the Dockerfile's folder in the organizers' scripts): "
        "`COPY ../x` fails with `forbidden path outside the build context`, even when the file is in the "
        "repository."
    )
    fix = "Move the file into the context folder, or build with the repository root as context (config `contexts`)."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for copy in copy_sources(view):
            res = copy.resolution
            if res.outside_context:
                where = "the repository" if res.context_path is None else f"the build context ({res.context_path})"
                yield self.finding(
                    f"{copy.instruction.keyword} source {res.source!r} is outside {where}",
                    copy.dockerfile,
                    copy.instruction.start,
                    target=copy.dockerfile,
                    evidence=copy.instruction.value,
                )
