"""RA907 private-key: A private key (SSH, TLS, PGP) is part of the submission."""

from __future__ import annotations

from audit.model import Confidence, Severity
from audit.rules.secrets import SecretRule


class PrivateKeyInTree(SecretRule):
    id = "RA907"
    name = "private-key"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    kinds = frozenset({"private-key"})
    summary = "A private key (SSH, TLS, PGP) is part of the submission."
    explanation = (
        "A private key copied into the build context (often an SSH deploy key used to clone a private dependency)"
        " is readable in the image and the repository, and every system that trusts it is open."
    )
