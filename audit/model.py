"""The frozen values every stage and renderer shares: severities, findings, entries, targets, results.

Nothing here does I/O. A `Finding` is built through `Rule.finding` (see `audit.rules.base`), which fills
the rule's identity and checks the invariants in `Finding.__post_init__`: a relative POSIX path that
stays inside the entry, a 1-based line or none, a non-empty message.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field, replace


class Severity(enum.IntEnum):
    """How bad a finding is for reproducibility, independent of how sure we are (`Confidence`)."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (choose one of: {choices})") from None


class Confidence(enum.IntEnum):
    """How sure a rule is that the finding is real (a heuristic match is `LOW`)."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Role(enum.Enum):
    """What a build target is for in the competition: training the model or serving it to HELM."""

    TRAIN = "train"
    INFERENCE = "inference"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Location:
    """A place inside an entry. `path` is POSIX and relative to the entry root; `line` is 1-based.

    The secret scan looks deeper than a file's lines, and says so with the optional parts: `member`
    (a path inside an archive; nested archives joined by "!"), `cell` and `output` (1-based, in a
    notebook; `line` then counts within that cell's source or output), `offset` (bytes, in a binary)
    and `commit` (the file as it was in that commit of the entry's git history).
    """

    path: str
    line: int | None = None
    member: str | None = None
    cell: int | None = None
    output: int | None = None
    offset: int | None = None
    commit: str | None = None

    def __post_init__(self) -> None:
        # A backslash is an ordinary character of a POSIX file name (and how undecodable bytes of a name
        # are shown, `\xff`), so it is allowed.
        if not self.path or self.path.startswith("/"):
            raise ValueError(f"location path must be relative POSIX, got {self.path!r}")
        normal = posixpath.normpath(self.path)
        if normal != self.path and self.path != ".":
            raise ValueError(f"location path must be normalised, got {self.path!r}")
        if normal == ".." or normal.startswith("../"):
            raise ValueError(f"location path escapes the entry: {self.path!r}")
        for name in ("line", "cell", "output"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} numbers are 1-based, got {value}")
        if self.offset is not None and self.offset < 0:
            raise ValueError(f"byte offsets are not negative, got {self.offset}")
        if self.output is not None and self.cell is None:
            raise ValueError("a notebook output needs its cell")

    @property
    def in_file_text(self) -> bool:
        """Whether `line` is a line of the file as it is in the tree (where inline pragmas can sit)."""
        return self.member is None and self.cell is None and self.offset is None and self.commit is None

    def __str__(self) -> str:
        text = self.path if self.member is None else f"{self.path}!{self.member}"
        if self.cell is not None:
            text += f" cell {self.cell}" + ("" if self.output is None else f" output {self.output}")
        if self.line is not None:
            text += f", line {self.line}" if self.cell is not None else f":{self.line}"
        if self.offset is not None:
            text += f" @byte {self.offset}"
        if self.commit is not None:
            text += f" (commit {self.commit[:12]})"
        return text


@dataclass(frozen=True)
class Suppression:
    """Why a finding does not count: where the suppression came from and the reason given."""

    kind: str  # "inline" | "config" | "baseline"
    reason: str


@dataclass(frozen=True)
class SecretInfo:
    """What a secret finding says about the secret, never the secret itself."""

    kind: str  # "huggingface-token", ...
    fingerprint: str  # salted SHA-256 prefix: the same secret has the same fingerprint everywhere
    redacted: str  # "hf_…Xy (37 chars)"
    lives: str  # across the entry: "tree", "history" or "both"
    added_in: str | None = None  # history: the commit that added it at this place
    removed_in: str | None = None  # history: the commit that removed it (None: still on some branch)
    in_tree: bool = True  # the secret is in the entry's working tree (anywhere)
    liveness: str | None = None  # with --verify: "live", "revoked" or "unknown"


@dataclass(frozen=True)
class Finding:
    """One problem found in one entry. Severity and confidence are kept apart on purpose."""

    rule: str
    name: str
    family: str
    severity: Severity
    confidence: Confidence
    message: str
    location: Location
    fix: str
    target: str | None = None  # the Dockerfile (entry-relative) whose build this finding concerns
    evidence: str | None = None  # the offending text, already masked when it could hold a secret
    related: tuple[Location, ...] = ()
    suppressed: Suppression | None = None
    secret: SecretInfo | None = None

    def __post_init__(self) -> None:
        if not self.message.strip():
            raise ValueError(f"finding of {self.rule} has an empty message")
        if self.evidence is not None and len(self.evidence) > 300:
            object.__setattr__(self, "evidence", self.evidence[:297] + "...")

    @property
    def counts(self) -> bool:
        """A suppressed finding is kept (JSON and SARIF carry it) but never fails a run."""
        return self.suppressed is None

    def sort_key(self) -> tuple[str, str, int, str, str]:
        return (self.target or "~", self.location.path, self.location.line or 0, self.rule, self.message)


@dataclass(frozen=True)
class Target:
    """A Dockerfile to build, with the build context the organizers' scripts would have used."""

    dockerfile: str  # entry-relative POSIX path
    context: str  # entry-relative POSIX path ("." for the entry root)
    role: Role
    role_reason: str


@dataclass(frozen=True)
class Entry:
    """One submission: a repository folder, possibly one of hundreds in an organizers' archive."""

    name: str  # "<track>/<user>/<repo>" in an archive, the folder name otherwise
    root: str  # absolute path of the entry's folder on this machine
    track: str | None
    targets: tuple[Target, ...] = ()


class Status(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERRORED = "errored"


@dataclass(frozen=True)
class StageResult:
    """What one stage concluded about one entry. "Could not check" is a value (SKIPPED), not an exception."""

    stage: str
    status: Status
    findings: tuple[Finding, ...] = ()
    reason: str | None = None
    data: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class SecretSummary:
    """One distinct secret of an entry: what it is and everywhere it was found (never its value)."""

    kind: str
    label: str  # "HuggingFace user access token"
    fingerprint: str
    redacted: str
    lives: str  # "tree", "history" or "both"
    paths: tuple[str, ...]  # entry-relative files holding it, in the tree or in history


@dataclass(frozen=True)
class EntryReport:
    """An entry with everything the static audit found in it, policy already applied."""

    entry: Entry
    findings: tuple[Finding, ...]
    files_scanned: int = 0
    config_source: str | None = None
    fail_on: Severity | None = None  # the entry's own configured threshold, if any
    secrets: tuple[SecretSummary, ...] = ()  # empty when no secret rule ran or nothing was found

    def counting(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.counts)


@dataclass(frozen=True)
class CheckResult:
    """The finished result of `repro-audit check`, which every renderer consumes."""

    entries: tuple[EntryReport, ...]
    roots: tuple[str, ...]
    fail_on: Severity
    errors: tuple[str, ...] = ()

    def all_findings(self) -> list[Finding]:
        return [f for report in self.entries for f in report.findings]

    def failing(self) -> list[Finding]:
        return [f for f in self.all_findings() if f.counts and f.severity >= self.fail_on]

    def with_baseline(self, holds: Callable[[Finding], bool]) -> CheckResult:
        """The same result with the findings a baseline `holds` marked as suppressed (after --update-baseline)."""
        entries = []
        for report in self.entries:
            findings = tuple(
                replace(f, suppressed=Suppression("baseline", "known secret in the baseline"))
                if f.counts and holds(f)
                else f
                for f in report.findings
            )
            entries.append(replace(report, findings=findings))
        return replace(self, entries=tuple(entries))

    def shared_secrets(self) -> list[tuple[SecretSummary, list[str]]]:
        """Secrets found in more than one entry (copied starter code), once each, with the entries' names."""
        by_fingerprint: dict[str, tuple[SecretSummary, list[str]]] = {}
        for report in self.entries:
            for secret in report.secrets:
                by_fingerprint.setdefault(secret.fingerprint, (secret, []))[1].append(report.entry.name)
        return [(secret, names) for secret, names in by_fingerprint.values() if len(names) > 1]
