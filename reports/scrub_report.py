"""What `repro-audit scrub` did, for people (plain text) and for machines (JSON, schema version 1)."""

from __future__ import annotations

import dataclasses
import json

from audit import __version__
from audit.secrets.scrub import ScrubResult

SCHEMA_VERSION = 1


def render_text(result: ScrubResult) -> str:
    lines = [f"scrubbed copy of {result.source} in {result.destination}"]
    for entry in result.entries:
        history = "rewritten" if entry.history_rewritten else (entry.history_error or "unchanged")
        lines.append(
            f"  {entry.name}: {entry.secrets} secret(s); {len(entry.redacted_files)} file(s) redacted, "
            f"{len(entry.removed_files)} removed; history {history}"
        )
        lines.extend(f"    removed {path}" for path in entry.removed_files)
        lines.extend(f"    STILL PRESENT {place}" for place in entry.remaining)
        lines.extend(f"    NOT VERIFIED {place}" for place in entry.unverified)
    if result.clean:
        lines.append("the copy was scanned again: no secret found")
    else:
        lines.append(
            "the copy still holds secrets, or parts the scan could not read (listed above): do not release it "
            "as it is; check or remove those parts (or raise --secret-max-file-bytes) and scrub again"
        )
    return "\n".join(lines) + "\n"


def render_json(result: ScrubResult) -> str:
    document = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "repro-audit", "version": __version__},
        "source": result.source,
        "destination": result.destination,
        "clean": result.clean,
        "entries": [dataclasses.asdict(entry) for entry in result.entries],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
