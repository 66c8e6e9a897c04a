"""RA303 and RA304: editable or local-path requirements, inside and outside the tree."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.views.entry import EntryView, ReachedFile
from audit.views.requirements import Pin, RequirementLine


def _local_lines(view: EntryView) -> Iterator[tuple[ReachedFile, RequirementLine, str | None]]:
    """Local-path requirements with their entry-relative path (None when it leaves the entry)."""
    for reached in view.dependency_files:
        for line in reached.parsed.requirements:
            if line.graded.pin is not Pin.LOCAL or line.graded.path is None:
                continue
            raw = line.graded.path
            if raw.startswith(("/", "~")):
                yield reached, line, None
                continue
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(reached.path), raw))
            yield reached, line, None if joined == ".." or joined.startswith("../") else joined


class RequirementLocalPath(Rule):
    id = "RA303"
    name = "requirement-local-path"
    family = "requirements"
    severity = Severity.INFO
    summary = "editable or local-path requirement inside the repository"
    explanation = (
        "A local path inside the repository travels with the submission, so it is reproducible as long as "
        "the path is in the build context; it is listed so that reviewers see what is installed from source."
    )
    fix = "Nothing to do if the folder is committed and inside the build context."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for reached, line, inside in _local_lines(view):
            if inside is not None:
                mode = "editable install of" if line.graded.editable else "install from"
                yield self.finding(
                    f"{mode} local path `{line.graded.text}`",
                    reached.path,
                    line.line,
                    target=reached.target,
                    evidence=line.graded.text,
                )


class RequirementPathOutsideTree(Rule):
    id = "RA304"
    name = "requirement-path-outside-tree"
    family = "requirements"
    severity = Severity.HIGH
    summary = "requirement pointing at a path outside the repository"
    explanation = (
        "An absolute path or a `../` path outside the repository names a folder on the submitter's "
        "machine; it does not exist anywhere else, so the install fails on every other machine."
    )
    fix = "Vendor the package into the repository, or publish it and pin `name==version`."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for reached, line, inside in _local_lines(view):
            if inside is None:
                yield self.finding(
                    f"`{line.graded.text}` is outside the repository: only the submitter's machine has it",
                    reached.path,
                    line.line,
                    target=reached.target,
                    evidence=line.graded.text,
                )
