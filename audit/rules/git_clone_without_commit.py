"""RA401: `git clone` in a RUN not followed by a checkout of a commit."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.fetches import clones
from audit.views.entry import EntryView


class GitCloneWithoutCommit(Rule):
    id = "RA401"
    name = "git-clone-without-commit"
    family = "fetch"
    severity = Severity.HIGH
    summary = "git clone without checking out a commit"
    explanation = (
        "A clone takes whatever the default branch holds on the day of the build. A `--branch` tag is "
        "better but can be moved or deleted (medium). Only `git checkout <commit>` after the clone pins "
        "the code that ends up in the image."
    )
    fix = "Check out the commit you tested: `git clone URL dir && git -C dir checkout <40-hex commit>`."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for target, dockerfile in view.dockerfiles():
            for clone in clones(dockerfile):
                if clone.pinned or "huggingface.co" in clone.url:
                    continue  # RA405 reports clones of Hub repositories
                path = target.target.dockerfile
                if clone.branch:
                    message = f"git clone of {clone.url} at branch or tag {clone.branch!r}, not a commit"
                    severity = Severity.MEDIUM
                else:
                    message = f"git clone of {clone.url} takes the default branch's head; no commit is checked out"
                    severity = Severity.HIGH
                yield self.finding(
                    message,
                    path,
                    clone.step.instruction.line_of(clone.url),
                    target=path,
                    severity=severity,
                    evidence=" ".join(clone.command.argv),
                )
