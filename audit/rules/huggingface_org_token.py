"""RA902 huggingface-org-token: A legacy HuggingFace organization API token is written into the submission."""

from __future__ import annotations

from audit.model import Confidence, Severity
from audit.rules.secrets import SecretRule


class HuggingFaceOrgToken(SecretRule):
    id = "RA902"
    name = "huggingface-org-token"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    kinds = frozenset({"huggingface-org-token"})
    summary = "A legacy HuggingFace organization API token is written into the submission."
    explanation = (
        "Organization tokens (`api_org_` and 34 letters or digits) act for a whole HuggingFace organization. They"
        " were deprecated but keep working where they were issued, and old starter code still carries them."
    )
