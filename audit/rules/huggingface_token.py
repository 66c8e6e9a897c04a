"""RA901 huggingface-token: A HuggingFace user access token is written into the submission."""

from __future__ import annotations

from audit.model import Confidence, Severity
from audit.rules.secrets import SecretRule


class HuggingFaceToken(SecretRule):
    id = "RA901"
    name = "huggingface-token"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    kinds = frozenset({"huggingface-token"})
    summary = "A HuggingFace user access token is written into the submission."
    explanation = (
        "The starter kit of the NeurIPS 2023 LLM Efficiency Challenge told entrants to put their HuggingFace "
        "token in `ENV HUGGINGFACE_TOKEN`, and many did with a write token: anyone who reads the repository, the "
        "built image or the released dataset can then push to the entrant's models. Tokens are `hf_` followed by "
        "34 letters or digits and are found whatever their entropy, in any file (notebook outputs, `.pyc` files, "
        "logs, archives) and in git history."
    )
