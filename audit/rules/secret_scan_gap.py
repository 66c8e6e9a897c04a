"""RA911 secret-scan-gap: part of the entry could not be searched for secrets, and this says which part."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Confidence, Finding, Severity
from audit.rules.base import Rule
from audit.rules.secrets import entry_secrets
from audit.views.entry import EntryView


class SecretScanGap(Rule):
    id = "RA911"
    name = "secret-scan-gap"
    family = "secret"
    severity = Severity.LOW
    confidence = Confidence.HIGH
    summary = "Part of the entry was not searched for secrets (size limit, archive limit, unreadable history)."
    explanation = (
        "A scan that skips something must say so, or a clean report means nothing. Files over the secret-scan "
        "size limit (weights, usually), archive members stopped by the depth, count, size or compression-ratio "
        "limits (a zip bomb), encrypted members, and git histories that are shallow, corrupt or stored outside "
        "the entry are each reported here with the reason."
    )
    fix = (
        "Check the named part by hand, or raise the limit (`secret-max-file-bytes` in [tool.repro-audit], "
        "`--secret-max-file-bytes`); for a shallow clone, fetch the full history (`git fetch --unshallow`)."
    )

    def check(self, view: EntryView) -> Iterator[Finding]:
        for location, message in entry_secrets(view).gaps:
            yield self.finding(message, location.path, location=location)
