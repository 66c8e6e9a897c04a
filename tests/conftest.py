from __future__ import annotations

import os

# rich renders for a terminal of this width in every test, whatever runs pytest
os.environ.setdefault("COLUMNS", "120")
