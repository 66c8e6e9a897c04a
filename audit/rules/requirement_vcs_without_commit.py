"""RA302: a VCS requirement (`git+https://...`) without a commit."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.views.entry import EntryView
from audit.views.requirements import Pin


class RequirementVcsWithoutCommit(Rule):
    id = "RA302"
    name = "requirement-vcs-without-commit"
    family = "requirements"
    severity = Severity.HIGH
    summary = "git+URL requirement without @<commit>"
    explanation = (
        "A VCS requirement without a ref installs the default branch's head at build time; branch and tag "
        "names move. The code that ends up in the image is whatever was pushed last."
    )
    fix = "Pin the full commit: `peft @ git+https://github.com/huggingface/peft.git@<40-hex commit>`."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for reached in view.dependency_files:
            for line in reached.parsed.requirements:
                if line.graded.pin is Pin.VCS_MUTABLE:
                    ref = f"mutable ref {line.graded.ref!r}" if line.graded.ref else "no ref"
                    yield self.finding(
                        f"`{line.graded.text}` has {ref}",
                        reached.path,
                        line.line,
                        target=reached.target,
                        evidence=line.graded.text,
                    )
