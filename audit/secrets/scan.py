"""One entry's secrets: every file of the tree and, for a git repository, every blob of its history.

`scan_entry` runs once per entry (the secret rules share it through the tree's memo) and groups what it
finds by secret value: where each secret sits in the tree, where it sat in history and when, and what
could not be looked into. The values stay in memory for the rules and `scrub`; nothing built from this
module for output holds more than the redacted label and the fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from audit.model import Location
from audit.secrets import redact
from audit.secrets.catalog import DetectorSet, Kind
from audit.secrets.content import ContentScanner, Hit, Limits
from audit.secrets.history import HistoryScan, scan_history
from audit.tree import EntryTree

MEMO_KIND = "secrets"
"""The entry tree's memo key of the scan (`tree.memo(MEMO_KIND, ".", ...)`): the secret rules build it, the
engine reads it back for the entry's summary."""


@dataclass(frozen=True)
class SecretOptions:
    """How secrets are looked for. Picklable: it travels to the worker processes."""

    entropy: bool = False  # also run the generic high-entropy plugins
    history: bool = True  # scan git history when the entry is a repository
    limits: Limits = field(default_factory=Limits)
    salt: str = field(default_factory=redact.default_salt)
    verify_url: str | None = None  # --verify: ask this HuggingFace base URL whether tokens are live
    verify_timeout: float = 5.0


@dataclass(frozen=True)
class Place:
    """One place a secret sits: in the tree (commit None) or in a blob of the history."""

    location: Location
    text: str  # the line or printable run holding it: raw, never rendered before redaction
    added: str | None = None  # history: the commit that put it there
    removed: str | None = None  # history: the commit that took it out (None: still on some branch)
    blob: str | None = None  # history: the id of the blob holding it
    message: str | None = None  # history: "commit message" or "tag message" when it is in one

    @property
    def in_binary(self) -> bool:
        """Inside an archive or a binary file: bytes that cannot be edited in place."""
        return self.location.member is not None or self.location.offset is not None


@dataclass
class FoundSecret:
    kind: Kind
    value: str
    fingerprint: str
    tree: list[Place] = field(default_factory=list)
    history: list[Place] = field(default_factory=list)

    @property
    def redacted(self) -> str:
        return redact.redacted(self.value)

    @property
    def lives(self) -> str:
        """ "tree", "history" or "both": where the secret can be found."""
        if self.tree and self.history:
            return "both"
        return "tree" if self.tree else "history"

    def paths(self) -> list[str]:
        seen: dict[str, None] = {}
        for place in (*self.tree, *self.history):
            seen.setdefault(place.location.path, None)
        return list(seen)


@dataclass
class EntrySecrets:
    secrets: dict[str, FoundSecret] = field(default_factory=dict)  # value -> secret, in order found
    gaps: list[tuple[Location, str]] = field(default_factory=list)
    files_scanned: int = 0
    bytes_scanned: int = 0
    history: HistoryScan | None = None

    def of_kinds(self, kinds: frozenset[str]) -> list[FoundSecret]:
        return [s for s in self.secrets.values() if s.kind.id in kinds]

    def values(self) -> list[str]:
        return list(self.secrets)


def scan_entry(tree: EntryTree, detectors: DetectorSet, options: SecretOptions) -> EntrySecrets:
    scanner = ContentScanner(detectors, options.limits)
    result = EntrySecrets()
    oversize: list[str] = []
    for info in tree.secret_files():
        if info.size > options.limits.max_file_bytes:
            oversize.append(info.path)
            continue
        data = tree.read_bytes(info.path)
        if data is None:
            continue  # unreadable: already an input finding
        result.files_scanned += 1
        result.bytes_scanned += len(data)
        blob = scanner.scan(data, info.path)
        for hit in blob.hits:
            _record(result, hit, info.path, options.salt)
        for gap in blob.gaps:
            result.gaps.append((Location(info.path, member=gap.member), gap.message))
    if oversize:
        limit = options.limits.max_file_bytes // (1024 * 1024)
        for path in oversize:
            result.gaps.append((Location(path), f"larger than the {limit} MiB secret-scan limit: not scanned"))
    if options.history:
        history = scan_history(tree.root, scanner)
        result.history = history
        for gap_text in history.gaps:
            result.gaps.append((Location("."), f"git history: {gap_text}"))
        for folder in tree.nested_repositories():
            message = "a repository of its own inside the entry: its git history was not scanned"
            result.gaps.append((Location(folder), message))
        for found in history.hits:
            hit = found.hit
            location = _location(hit, found.path, commit=found.added)
            place = Place(
                location, hit.text, added=found.added, removed=found.removed, blob=found.blob, message=found.message
            )
            _secret(result, hit, options.salt).history.append(place)
    return result


def _record(result: EntrySecrets, hit: Hit, path: str, salt: str) -> None:
    _secret(result, hit, salt).tree.append(Place(_location(hit, path), hit.text))


def _secret(result: EntrySecrets, hit: Hit, salt: str) -> FoundSecret:
    found = result.secrets.get(hit.secret)
    if found is None:
        found = FoundSecret(hit.kind, hit.secret, redact.fingerprint(hit.secret, salt))
        result.secrets[hit.secret] = found
    return found


def _location(hit: Hit, path: str, commit: str | None = None) -> Location:
    return Location(
        path, hit.line, cell=hit.cell, output=hit.output, offset=hit.offset, member=hit.member, commit=commit
    )
