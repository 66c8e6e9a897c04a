"""What the secret rules share: one scan per entry, and one way to turn a found secret into findings.

Each secret rule owns some kinds of the catalog (`audit.secrets.catalog`) and reports every place its
secrets sit: one finding per place in the tree, and one per path where the secret is only in history
(with the commits that added and removed it). Messages and evidence hold the redacted label and the
fingerprint, never the value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from audit.model import Finding, SecretInfo
from audit.rules.base import Rule
from audit.secrets import catalog, redact
from audit.secrets.redact import Redactor
from audit.secrets.scan import MEMO_KIND, EntrySecrets, FoundSecret, Place, scan_entry
from audit.secrets.verify import VERIFIABLE_KINDS, Liveness, check_tokens
from audit.views.entry import EntryView

_EVIDENCE_CONTEXT = 80


def entry_secrets(view: EntryView) -> EntrySecrets:
    """The entry's secret scan, run on first use and shared by every secret rule."""
    options = view.secret_options
    detectors = catalog.select(entropy=options.entropy)
    return view.tree.memo(MEMO_KIND, ".", lambda: scan_entry(view.tree, detectors, options))


def _liveness(view: EntryView, secrets: list[FoundSecret]) -> dict[str, Liveness]:
    """With --verify, whether each HuggingFace token is live (asked once per entry and token)."""
    options = view.secret_options
    values = [s.value for s in secrets if s.kind.id in VERIFIABLE_KINDS]
    if options.verify_url is None or not values:
        return {}
    known: dict[str, Liveness] = view.tree.memo("secret-liveness", ".", dict)
    missing = [v for v in values if v not in known]
    if missing:
        known.update(check_tokens(missing, options.verify_url, options.verify_timeout))
    return known


class SecretRule(Rule):
    family = "secret"
    kinds: ClassVar[frozenset[str]]
    fix = (
        "Revoke the token at its provider first (it is public as soon as the repository is), then remove it "
        "from the files and pass it at run time instead: `docker build --secret id=hf,env=HF_TOKEN` with "
        "`RUN --mount=type=secret,id=hf`, or an environment variable of the container. If it is also in git "
        "history, `repro-audit scrub` writes a release copy with the history rewritten."
    )

    def check(self, view: EntryView) -> Iterator[Finding]:
        scan = entry_secrets(view)
        redactor = Redactor(scan.values())
        mine = scan.of_kinds(self.kinds)
        liveness = _liveness(view, mine)
        for secret in mine:
            yield from self._findings(secret, redactor, liveness.get(secret.value))

    def _findings(self, secret: FoundSecret, redactor: Redactor, liveness: Liveness | None) -> Iterator[Finding]:
        label = f"{secret.kind.label} {secret.redacted}, fingerprint {secret.fingerprint}"
        if liveness is not None:
            label += f", {liveness}"
        tree_paths = {p.location.path for p in secret.tree}
        first_added = {p.location.path: p for p in secret.history}
        for place in secret.tree:
            earlier = first_added.get(place.location.path)
            yield self._finding(secret, place, redactor, f"{label} {_where(place)}", earlier, liveness)
        for place in secret.history:
            if place.location.path in tree_paths:
                continue  # the tree finding at that path already names the commit that added it
            status = "removed in commit " + place.removed[:12] if place.removed else "still on a branch"
            message = f"{label} in git history only: added in commit {(place.added or '')[:12]}, {status}"
            if place.message is not None:
                message = f"{label} in the {place.message} of {(place.added or '')[:12]} in git history"
            yield self._finding(secret, place, redactor, message, place, liveness)

    def _finding(
        self,
        secret: FoundSecret,
        place: Place,
        redactor: Redactor,
        message: str,
        added: Place | None,
        liveness: Liveness | None,
    ) -> Finding:
        info = SecretInfo(
            kind=secret.kind.id,
            fingerprint=secret.fingerprint,
            redacted=secret.redacted,
            lives=secret.lives,
            added_in=added.added if added else None,
            removed_in=added.removed if added else None,
            in_tree=bool(secret.tree),
            liveness=liveness.status if liveness is not None else None,
        )
        evidence = _evidence(place.text, secret.value, redactor)
        return self.finding(
            redactor(message), place.location.path, location=place.location, evidence=evidence, secret=info
        )


def _where(place: Place) -> str:
    location = place.location
    if location.cell is not None:
        return "in a notebook output" if location.output is not None else "in a notebook cell"
    if location.member is not None:
        return "inside an archive"
    if location.offset is not None:
        return "in a binary file"
    return "in the working tree"


def _evidence(text: str, value: str, redactor: Redactor) -> str:
    """The line around the secret, every secret in it redacted first, then cut around this one: cutting
    first could leave part of a neighbouring secret that no longer matches anything."""
    label = redact.redacted(value)
    text = redactor(text.replace("\0", "")).strip()
    at = text.find(label)
    if len(text) > 2 * _EVIDENCE_CONTEXT + len(label) and at >= 0:
        start = max(0, at - _EVIDENCE_CONTEXT)
        end = at + len(label) + _EVIDENCE_CONTEXT
        text = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return text
