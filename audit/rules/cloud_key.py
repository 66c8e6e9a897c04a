"""RA905 cloud-key: A cloud provider key (AWS access key, Azure storage key) is written into the submission."""

from __future__ import annotations

from audit.model import Confidence, Severity
from audit.rules.secrets import SecretRule


class CloudKey(SecretRule):
    id = "RA905"
    name = "cloud-key"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    kinds = frozenset({"aws-key", "azure-storage-key"})
    summary = "A cloud provider key (AWS access key, Azure storage key) is written into the submission."
    explanation = (
        "Cloud keys give access to storage and compute billed to their owner; entrants used them to fetch "
        "datasets or checkpoints from buckets. They are found with detect-secrets' own AWS and Azure detectors."
    )
