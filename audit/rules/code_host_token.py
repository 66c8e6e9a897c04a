"""RA906 code-host-token: A GitHub or GitLab token is written into the submission."""

from __future__ import annotations

from audit.model import Confidence, Severity
from audit.rules.secrets import SecretRule


class CodeHostToken(SecretRule):
    id = "RA906"
    name = "code-host-token"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    kinds = frozenset({"github-token", "gitlab-token"})
    summary = "A GitHub or GitLab token is written into the submission."
    explanation = (
        "Personal access tokens of code hosts let anyone push to, or read the private repositories of, their "
        "owner. They appear in clone URLs and CI scripts copied into submissions."
    )
