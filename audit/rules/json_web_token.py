"""RA909 json-web-token: A JSON web token is written into the submission."""

from __future__ import annotations

from audit.model import Confidence, Severity
from audit.rules.secrets import SecretRule


class JsonWebToken(SecretRule):
    id = "RA909"
    name = "json-web-token"
    severity = Severity.MEDIUM
    confidence = Confidence.MEDIUM
    kinds = frozenset({"jwt"})
    summary = "A JSON web token is written into the submission."
    explanation = (
        "A JWT is a signed bearer credential: until it expires, whoever holds it is its subject. Many are short-"
        "lived or test tokens, hence the medium severity; check its `exp` claim before dismissing it."
    )
