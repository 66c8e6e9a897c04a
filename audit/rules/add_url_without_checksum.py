"""RA403: `ADD <url>` without `--checksum`."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.fetches import URL
from audit.views.entry import EntryView


class AddUrlWithoutChecksum(Rule):
    id = "RA403"
    name = "add-url-without-checksum"
    family = "fetch"
    severity = Severity.MEDIUM
    summary = "ADD of a URL without --checksum"
    explanation = (
        "`ADD https://...` downloads at build time whatever the server returns. BuildKit's `--checksum` "
        "makes the build fail loudly instead of silently taking changed content."
    )
    fix = "Add the digest: `ADD --checksum=sha256:<hex> https://... /dest`."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for target, dockerfile in view.dockerfiles():
            for ins in dockerfile.of("ADD"):
                if "checksum" in ins.flags:
                    continue
                for source in ins.words()[:-1]:
                    if URL.match(source) or source.startswith("git@"):
                        path = target.target.dockerfile
                        yield self.finding(
                            f"ADD downloads {source} without --checksum",
                            path,
                            ins.start,
                            target=path,
                            evidence=source,
                        )
