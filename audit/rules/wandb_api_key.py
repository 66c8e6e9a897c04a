"""RA903 wandb-api-key: A Weights & Biases API key is written into the submission."""

from __future__ import annotations

from audit.model import Confidence, Severity
from audit.rules.secrets import SecretRule


class WandbApiKey(SecretRule):
    id = "RA903"
    name = "wandb-api-key"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    kinds = frozenset({"wandb-api-key"})
    summary = "A Weights & Biases API key is written into the submission."
    explanation = (
        "Training scripts log to W&B with a 40-character key; when it is written into `WANDB_API_KEY=...`, "
        "`wandb.login(key=...)`, `wandb login KEY` or a `.netrc` for api.wandb.ai, anyone can write to the "
        "entrant's W&B projects. A bare 40-hex string is not reported (it is as likely a git commit id): the key "
        "must sit in a W&B context."
    )
