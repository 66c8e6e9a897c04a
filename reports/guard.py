"""The output guard every renderer passes its finished text through (`audit.secrets.guard`): no secret
may be printed, whatever produced the text."""

from __future__ import annotations

from audit.secrets.guard import guard

__all__ = ["guard"]
