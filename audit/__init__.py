"""repro-audit: reproducibility auditing for machine-learning competition submissions."""

from __future__ import annotations

__version__ = "0.1.0"
