"""RA904 url-credentials: A password or token is embedded in a URL (`https://user:TOKEN@host/...`)."""

from __future__ import annotations

from audit.model import Confidence, Severity
from audit.rules.secrets import SecretRule


class UrlCredentials(SecretRule):
    id = "RA904"
    name = "url-credentials"
    severity = Severity.HIGH
    confidence = Confidence.MEDIUM
    kinds = frozenset({"url-credentials"})
    summary = "A password or token is embedded in a URL (`https://user:TOKEN@host/...`)."
    explanation = (
        "Several entries cloned private model repositories at build time with the token inside the clone URL, or "
        "pointed pip at `--index-url https://user:TOKEN@...`. The URL ends up in the Dockerfile, the image "
        "history and often `.git/config`, where it is as public as the code. Placeholders such as `$TOKEN` or "
        "`{token}` are not reported."
    )
