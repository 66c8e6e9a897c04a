"""The last check before any text leaves repro-audit: no secret may be printed, whatever produced the text.

Rules build messages from redacted labels only; this guard does not trust that. Every renderer's finished
text, error messages, crash logs and the build logs of entries go through `guard`, which runs the secret
detectors over the text and replaces anything they find by its redacted label. A bug that put a token
into a message therefore still prints `hf_…Xy (37 chars)`.
"""

from __future__ import annotations

from functools import cache

from audit.secrets.catalog import select
from audit.secrets.content import ContentScanner
from audit.secrets.redact import Redactor


@cache
def _scanner() -> ContentScanner:
    return ContentScanner(select())  # the specific detectors: entropy ones would redact commit ids


def guard(text: str) -> str:
    hits = _scanner().scan_text(text)
    return Redactor(hit.secret for hit in hits)(text) if hits else text
