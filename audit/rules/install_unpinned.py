"""RA201: `pip` / `uv pip` / `conda` / `mamba install` of a package not pinned exactly in a RUN."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.pins import describe, unpinned, unpinned_severity
from audit.views.entry import EntryView


class InstallUnpinned(Rule):
    id = "RA201"
    name = "install-unpinned"
    family = "install"
    severity = Severity.HIGH
    summary = "RUN pip/conda install of a package without an exact version"
    explanation = (
        "An install without `==` takes whatever is newest on the day of the build. In the NeurIPS 2023 LLM "
        "Efficiency Challenge, entries that worked in October failed in November when PEFT and "
        "Transformers shipped breaking releases. `>=` is no better: it admits every future release. "
        "A range with an upper bound or a wildcard still moves within the range (medium)."
    )
    fix = "Pin the version you tested: `pip install transformers==4.35.0` (better: a hashed lock file)."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for use in view.installs:
            if use.install.upgrade and use.install.installer not in ("conda", "mamba", "micromamba"):
                continue  # RA202 reports upgrades of unpinned packages
            for graded in use.install.packages:
                if not unpinned(graded):
                    continue
                dockerfile = use.target.target.dockerfile
                yield self.finding(
                    f"{use.install.installer} installs {describe(graded)}",
                    dockerfile,
                    use.step.instruction.line_of(graded.text) if graded.text else use.line,
                    target=dockerfile,
                    severity=unpinned_severity(graded),
                    evidence=graded.text,
                )
