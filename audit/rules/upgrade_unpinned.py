"""RA202: `pip install -U` / `--upgrade` of packages that are not pinned."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.pins import describe, unpinned
from audit.views.entry import EntryView


class UpgradeUnpinned(Rule):
    id = "RA202"
    name = "upgrade-unpinned"
    family = "install"
    severity = Severity.HIGH
    summary = "pip install --upgrade of an unpinned package"
    explanation = (
        "`--upgrade` asks for the newest release explicitly, even over a version the base image already "
        "ships and that the entry was tested with. Upgrading pip itself changes how every later "
        "requirement is resolved (pip 24.1 stopped accepting legacy version strings, for one)."
    )
    fix = "Drop `--upgrade` and pin: `pip install pip==23.3.1 accelerate==0.24.1`."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for use in view.installs:
            if not use.install.upgrade or use.install.installer in ("conda", "mamba", "micromamba"):
                continue
            for graded in use.install.packages:
                if unpinned(graded):
                    dockerfile = use.target.target.dockerfile
                    yield self.finding(
                        f"{use.install.installer} upgrades {describe(graded)} to whatever is newest",
                        dockerfile,
                        use.step.instruction.line_of(graded.text),
                        target=dockerfile,
                        evidence=graded.text,
                    )
