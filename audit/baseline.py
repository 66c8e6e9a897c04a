"""Secret baselines: known secrets that are reported as suppressed instead of failing the run.

A baseline is a JSON file of (fingerprint, rule, path) triples and the salt the fingerprints were made
with; it never holds a secret or a redacted form of one, and no line numbers, so code moving inside a
file does not break it (the same choice as detect-secrets' baselines). A run with `--baseline FILE`
fingerprints with the file's salt, so its entries keep matching whatever `REPRO_AUDIT_SECRET_SALT` says;
except that a salt taken from `REPRO_AUDIT_SECRET_SALT` is private and never written: such a baseline
stores `"salt": null` and needs the variable set to be used.
`--update-baseline` rewrites the file from the secrets found in this run.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from audit.model import Finding
from audit.secrets.redact import SALT_ENV

BASELINE_VERSION = 1


class BaselineError(Exception):
    """A baseline file that cannot be used; the message says which file and what to do."""


@dataclass(frozen=True)
class Baseline:
    salt: str
    entries: frozenset[tuple[str, str, str]] = field(default_factory=frozenset)  # (fingerprint, rule, path)
    private_salt: bool = False  # the salt came from REPRO_AUDIT_SECRET_SALT: the file does not store it

    def holds(self, finding: Finding) -> bool:
        if finding.secret is None:
            return False
        return (finding.secret.fingerprint, finding.rule, finding.location.path) in self.entries

    @classmethod
    def of(cls, findings: Iterable[Finding], salt: str) -> Baseline:
        return cls(salt, frozenset((f.secret.fingerprint, f.rule, f.location.path) for f in findings if f.secret))

    def to_json(self) -> str:
        rows = [{"fingerprint": fp, "rule": rule, "path": path} for fp, rule, path in sorted(self.entries)]
        salt = None if self.private_salt else self.salt  # null: "the salt is in REPRO_AUDIT_SECRET_SALT"
        document = {"version": BASELINE_VERSION, "tool": "repro-audit", "salt": salt, "secrets": rows}
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def load(path: Path) -> Baseline:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"baseline {path} does not exist (create it with --update-baseline)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc}") from None
    except ValueError as exc:
        raise BaselineError(f"baseline {path} is not JSON ({exc}); recreate it with --update-baseline") from None
    if not isinstance(document, dict) or document.get("version") != BASELINE_VERSION:
        raise BaselineError(f"baseline {path} is not a version {BASELINE_VERSION} repro-audit baseline")
    salt, rows = document.get("salt"), document.get("secrets")
    private = salt is None
    if private:
        salt = os.environ.get(SALT_ENV)
        if not salt:
            raise BaselineError(
                f"baseline {path} was made with a private salt: set {SALT_ENV} to it (or recreate the baseline)"
            )
    if not isinstance(salt, str) or not salt or not isinstance(rows, list):
        raise BaselineError(
            f"baseline {path} lacks its salt or its list of secrets; recreate it with --update-baseline"
        )
    entries = set()
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("fingerprint", "rule", "path")):
            raise BaselineError(f"baseline {path}: secret #{number} needs string fingerprint, rule and path")
        entries.add((row["fingerprint"], row["rule"], row["path"]))
    return Baseline(salt, frozenset(entries), private_salt=private)


def save(baseline: Baseline, path: Path) -> None:
    """Write atomically: a crash never leaves half a baseline behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".baseline-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(baseline.to_json())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
