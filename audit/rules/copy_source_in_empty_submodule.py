"""RA503: a COPY/ADD source inside a git submodule that is not checked out."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Location, Severity
from audit.rules.base import Rule
from audit.rules.copies import copy_sources
from audit.views.entry import EntryView


class CopySourceInEmptySubmodule(Rule):
    id = "RA503"
    name = "copy-source-in-empty-submodule"
    family = "host-local"
    severity = Severity.HIGH
    summary = "COPY/ADD from a submodule folder that is empty"
    explanation = (
        "The folder is a git submodule declared in `.gitmodules`. A plain `git clone` or a download of the "
        "repository as an archive leaves it empty, so the build has nothing to copy."
    )
    fix = "Vendor the files, or document and script `git clone --recurse-submodules` and pin the submodule commit."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for copy in copy_sources(view):
            res = copy.resolution
            if res.submodule is None:
                continue  # a match inside an empty submodule can only be an empty folder: nothing to copy
            url = copy.context.empty_submodules.get(res.submodule, "")
            yield self.finding(
                f"{copy.instruction.keyword} source {res.source!r} is in submodule {res.submodule!r}"
                + (f" ({url})" if url else "")
                + ", which is not checked out",
                copy.dockerfile,
                copy.instruction.start,
                target=copy.dockerfile,
                evidence=copy.instruction.value,
                related=(Location(".gitmodules"),),
            )
