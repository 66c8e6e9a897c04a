"""Credential-named variables: shared by the credential rules. Not a rule module."""

from __future__ import annotations

import re

from audit.secrets.redact import redacted

CREDENTIAL_NAME = re.compile(
    r"(^|_)(TOKEN|API_KEY|APIKEY|SECRET|SECRET_KEY|PASSWORD|PASSWD|ACCESS_KEY|PRIVATE_KEY|AUTH)($|_)|"
    r"^(HF_TOKEN|HUGGINGFACE_TOKEN|HUGGING_FACE_HUB_TOKEN|HUGGINGFACEHUB_API_TOKEN|WANDB_API_KEY|OPENAI_API_KEY)$",
    re.IGNORECASE,
)
NOT_SECRET = re.compile(
    r"(_PATH|_FILE|_DIR|_URL|_HOST|_PORT|_NAME|_USER|_HOME|_TYPE|_LENGTH|_LEN|MAX_TOKENS?|_TOKENS)$", re.I
)


def is_credential_name(name: str) -> bool:
    return CREDENTIAL_NAME.search(name) is not None and NOT_SECRET.search(name) is None


def is_literal(value: str) -> bool:
    """A value written into the Dockerfile, as opposed to empty or taken from another variable."""
    stripped = value.strip().strip("\"'")
    return bool(stripped) and not stripped.startswith("$")


def mask(value: str) -> str:
    """Never print a credential: the secret scan's redacted label (first 3 and last 2 characters and the
    length, only when at least 8 characters stay hidden; otherwise only the length)."""
    return redacted(value.strip().strip("\"'"))
