"""RA910 high-entropy-string: A quoted string looks random enough to be a secret (off unless asked for with --entropy)."""

from __future__ import annotations

from audit.model import Confidence, Severity
from audit.rules.secrets import SecretRule


class HighEntropyString(SecretRule):
    id = "RA910"
    name = "high-entropy-string"
    severity = Severity.LOW
    confidence = Confidence.LOW
    enabled_by_default = False
    kinds = frozenset({"base64-high-entropy", "hex-high-entropy"})
    summary = "A quoted string looks random enough to be a secret (off unless asked for with --entropy)."
    explanation = (
        "detect-secrets' generic base64 and hex entropy detectors catch secrets of kinds no specific detector "
        "knows, but on real submissions they fired thousands of times on hashes, ids and test data. They only run"
        " when asked for (`--entropy`, or selecting RA910), and what they find is a lead to check, not a verdict."
    )
