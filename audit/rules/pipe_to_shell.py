"""RA404: `curl ... | sh` and the like: running a script fetched at build time."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.views.entry import EntryView

FETCHERS = frozenset({"curl", "wget"})
INTERPRETERS = frozenset({"sh", "bash", "zsh", "dash", "python", "python3", "perl"})


class PipeToShell(Rule):
    id = "RA404"
    name = "pipe-to-shell"
    family = "fetch"
    severity = Severity.HIGH
    summary = "curl/wget output piped into a shell"
    explanation = (
        "The script that runs is whatever the server sends during the rebuild: installers change what they "
        "install (usually the newest version of everything) and can disappear."
    )
    fix = "Download a versioned installer, verify its checksum, then run it; or install a pinned package instead."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for target, dockerfile in view.dockerfiles():
            for step in dockerfile.runs():
                for cmd in step.commands:
                    source = cmd.piped_from
                    if source is not None and source.program in FETCHERS and cmd.program in INTERPRETERS:
                        path = target.target.dockerfile
                        url = next((w for w in source.argv if "://" in w), source.argv[-1])
                        yield self.finding(
                            f"{source.program} output is piped into {cmd.program}: the build runs whatever {url} "
                            "serves that day",
                            path,
                            step.instruction.line_of(url),
                            target=path,
                            evidence=f"{' '.join(source.argv)} | {' '.join(cmd.argv)}",
                        )
