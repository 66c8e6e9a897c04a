"""Severity of an unpinned dependency, shared by the install and requirement-file rules.

Not a rule module. Open-ended specs (a bare name, `>=`, a VCS branch) let the next release in and
are high; specs with an upper bound or a wildcard still float inside their range and are medium.
"""

from __future__ import annotations

from audit.model import Severity
from audit.views.requirements import Graded, Pin


def unpinned_severity(graded: Graded) -> Severity:
    return Severity.HIGH if graded.pin.floating else Severity.MEDIUM


def describe(graded: Graded) -> str:
    """`transformers` (no version at all), `peft>=0.4` (open-ended range) ..."""
    return f"`{graded.text}` ({graded.pin.value})"


def unpinned(graded: Graded) -> bool:
    """Graded specs the unpinned rules report (VCS and local paths have rules of their own)."""
    return graded.pin in (Pin.BARE, Pin.LOWER_BOUND, Pin.BOUNDED, Pin.WILDCARD, Pin.URL)
