"""The only forms in which a secret ever leaves a scan: a redacted label and a salted fingerprint.

`redacted` shows the first 3 and last 2 characters and the length, and only when at least 8 characters
stay hidden (a short secret shows nothing but its length). `fingerprint` is a prefix of the SHA-256 of a
salt and the secret: stable across files, entries and runs that share the salt, so one token can be
followed everywhere it was copied and recorded in a baseline without being stored.

The salt comes from the baseline in use (so a baseline keeps matching), else the environment variable
`REPRO_AUDIT_SECRET_SALT`, else a fixed default. A fixed salt still keeps fingerprints useless for
guessing a 34-character token; a private salt also stops anyone from confirming a token they hold.

`Redactor` is the last line of defence: every renderer passes its finished text through it, so even a
bug that put a secret into a message would not print it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable

DEFAULT_SALT = "repro-audit/secret-fingerprint/v1"
SALT_ENV = "REPRO_AUDIT_SECRET_SALT"
FINGERPRINT_HEX = 16
_SHOWN = 5  # 3 leading + 2 trailing characters
_MIN_HIDDEN = 8


def default_salt() -> str:
    return os.environ.get(SALT_ENV) or DEFAULT_SALT


def fingerprint(secret: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}\0{secret}".encode("utf-8", "surrogatepass")).hexdigest()[:FINGERPRINT_HEX]


def redacted(secret: str) -> str:
    """`hf_…Xy (37 chars)`; a secret too short to show any of it safely gives only its length."""
    if len(secret) - _SHOWN >= _MIN_HIDDEN:
        return f"{secret[:3]}…{secret[-2:]} ({len(secret)} chars)"
    return f"… ({len(secret)} chars)"


def marker(kind: str, secret: str, salt: str) -> str:
    """What `scrub` writes in place of a secret."""
    return f"<REDACTED:{kind}:{fingerprint(secret, salt)}>"


class Redactor:
    """Replaces every known secret in a text by its redacted label. Longest secrets first."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._labels: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        fresh = [s for s in secrets if s and s not in self._labels]
        if not fresh:
            return
        for secret in fresh:
            self._labels[secret] = redacted(secret)
        ordered = sorted(self._labels, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __bool__(self) -> bool:
        return bool(self._labels)

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(lambda m: self._labels[m.group(0)], text)
