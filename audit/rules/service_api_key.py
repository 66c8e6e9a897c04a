"""RA908 service-api-key: An API key of another service (OpenAI, PyPI, Slack, Stripe, npm...) is written into the submission."""

from __future__ import annotations

from audit.model import Confidence, Severity
from audit.rules.secrets import SecretRule


class ServiceApiKey(SecretRule):
    id = "RA908"
    name = "service-api-key"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    kinds = frozenset(
        {
            "openai-key",
            "pypi-token",
            "slack-token",
            "stripe-key",
            "sendgrid-key",
            "square-oauth",
            "npm-token",
            "mailchimp-key",
        }
    )
    summary = "An API key of another service (OpenAI, PyPI, Slack, Stripe, npm...) is written into the submission."
    explanation = (
        "Entries used OpenAI keys to generate training data and Slack webhooks to report training progress; such "
        "keys are billed to, or speak for, their owner. They are found with detect-secrets' own low-noise "
        "detectors."
    )
