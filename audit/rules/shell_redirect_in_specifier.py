"""RA204: an unquoted `>` or `<` in a version specifier, which the shell turns into a redirection."""

from __future__ import annotations

import re
from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.views.entry import EntryView
from audit.views.installs import parse_install

VERSIONISH = re.compile(r"^=?[=~]?\s*[0-9][0-9A-Za-z.*+!-]*$")


class ShellRedirectInSpecifier(Rule):
    id = "RA204"
    name = "shell-redirect-in-specifier"
    family = "install"
    severity = Severity.HIGH
    summary = "pip install torch>=2.0.1 unquoted: the shell redirects to a file named `=2.0.1`"
    explanation = (
        "In `RUN pip install torch>=2.0.1` the shell reads `>` as a redirection: pip installs the newest "
        "`torch` with no constraint at all and its output goes to a file named `=2.0.1`. The build succeeds "
        "and the pin silently does nothing (this was in a winning entry of the 2023 challenge)."
    )
    fix = 'Quote the requirement: `pip install "torch>=2.0.1"` (better: an exact pin `torch==2.0.1`).'

    def check(self, view: EntryView) -> Iterator[Finding]:
        for target, dockerfile in view.dockerfiles():
            for step, cmd in dockerfile.commands():
                install = parse_install(cmd)
                if install is None or not install.packages:
                    continue
                for operator, destination in cmd.redirects:
                    if operator in (">", "<", ">>") and VERSIONISH.match(destination):
                        path = target.target.dockerfile
                        yield self.finding(
                            f"`{operator}{destination}` is a shell redirection, not a version constraint: "
                            f"{install.installer} installs the package unconstrained and writes a file "
                            f"named {destination!r}",
                            path,
                            step.instruction.line_of(f"{operator}{destination}"),
                            target=path,
                            evidence=f"{operator}{destination}",
                        )
