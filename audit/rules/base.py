"""What a rule is: identity, default severity and confidence, explanation and fix, and a check.

A rule module defines one subclass of `Rule` with its class attributes filled in and a `check`
generator over an `EntryView`. Rules report everything they see; suppressions, config and
thresholds are applied afterwards by `audit.policy`, in one place.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

from audit.model import Confidence, Finding, Location, SecretInfo, Severity
from audit.views.entry import EntryView

RULE_ID = re.compile(r"^RA\d{3}$")
FAMILIES = (
    "input", "base-image", "install", "requirements", "fetch", "host-local", "hub", "build-risk", "credential",
    "secret",
)  # fmt: skip


class Rule(ABC):
    id: ClassVar[str]
    name: ClassVar[str]  # kebab-case, stable
    family: ClassVar[str]
    severity: ClassVar[Severity]
    confidence: ClassVar[Confidence] = Confidence.HIGH
    summary: ClassVar[str]  # one line, shown in `repro-audit rules`
    explanation: ClassVar[str]  # one paragraph: why this breaks a rebuild
    fix: ClassVar[str]  # the default fix hint
    enabled_by_default: ClassVar[bool] = True  # False: runs only when selected by its id (or a flag)

    @abstractmethod
    def check(self, view: EntryView) -> Iterator[Finding]:
        """Every finding of this rule in one entry."""

    def finding(
        self,
        message: str,
        path: str,
        line: int | None = None,
        *,
        target: str | None = None,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
        evidence: str | None = None,
        fix: str | None = None,
        related: tuple[Location, ...] = (),
        location: Location | None = None,
        secret: SecretInfo | None = None,
    ) -> Finding:
        """The one way to build a finding: fills this rule's identity and defaults.

        `location` replaces `path` and `line` when the place is more than a file line (see `Location`).
        """
        return Finding(
            rule=self.id,
            name=self.name,
            family=self.family,
            severity=self.severity if severity is None else severity,
            confidence=self.confidence if confidence is None else confidence,
            message=message,
            location=location or Location(path, line),
            fix=fix or self.fix,
            target=target,
            evidence=evidence,
            related=related,
            secret=secret,
        )
