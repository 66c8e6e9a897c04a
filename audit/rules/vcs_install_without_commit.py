"""RA203: `pip install git+https://...` without a 40-hex commit."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.views.entry import EntryView
from audit.views.requirements import Pin


class VcsInstallWithoutCommit(Rule):
    id = "RA203"
    name = "vcs-install-without-commit"
    family = "install"
    severity = Severity.HIGH
    summary = "pip install git+URL without @<commit>"
    explanation = (
        "A VCS install without a ref takes the default branch's head; a branch or tag name can be moved or "
        "force-pushed. Only a full commit hash names the code the entry was tested with."
    )
    fix = "Append the full commit: `pip install git+https://github.com/org/repo.git@<40-hex commit>`."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for use in view.installs:
            for graded in use.install.packages:
                if graded.pin is Pin.VCS_MUTABLE:
                    ref = f"the mutable ref {graded.ref!r}" if graded.ref else "no ref (the default branch)"
                    dockerfile = use.target.target.dockerfile
                    yield self.finding(
                        f"{use.install.installer} installs {graded.text} at {ref}",
                        dockerfile,
                        use.step.instruction.line_of(graded.text[:40]),
                        target=dockerfile,
                        evidence=graded.text,
                    )
