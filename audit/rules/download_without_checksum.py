"""RA402: `wget` / `curl` of a URL whose content is never checked against a checksum."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.fetches import downloads, verifies_checksum
from audit.views.entry import EntryView

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "python", "python3"})


class DownloadWithoutChecksum(Rule):
    id = "RA402"
    name = "download-without-checksum"
    family = "fetch"
    severity = Severity.MEDIUM
    summary = "wget/curl without a checksum check"
    explanation = (
        "A URL can serve different bytes tomorrow (a re-released file, a moved `latest` link) or nothing at "
        "all. Without a checksum the build silently takes whatever comes back."
    )
    fix = 'Verify it: `curl -fsSLo f URL && echo "<sha256>  f" | sha256sum -c -`, or use `ADD --checksum=`.'

    def check(self, view: EntryView) -> Iterator[Finding]:
        for target, dockerfile in view.dockerfiles():
            for step in dockerfile.runs():
                for cmd, url in downloads(step):
                    piped_to_shell = any(c.piped_from is cmd and c.program in SHELLS for c in step.commands)
                    if piped_to_shell or verifies_checksum(dockerfile, step, cmd, url):
                        continue  # RA404 reports downloads piped into a shell
                    path = target.target.dockerfile
                    yield self.finding(
                        f"{cmd.program} fetches {url} and nothing checks what it got",
                        path,
                        step.instruction.line_of(url),
                        target=path,
                        evidence=url,
                    )
