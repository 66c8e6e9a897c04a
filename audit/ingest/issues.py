"""What ingesting an entry can report: the findings of the `ingest` stage of `repro-audit run`.

They are not rules over an entry's files (those are `audit.rules`): they say how the entry reached the
run (a member of its archive refused, a clone that failed, a submission with no commit). They carry ids
and explanations like rules do, so reports, `repro-audit rules` and suppressions treat them alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.model import Confidence, Finding, Location, Severity


@dataclass(frozen=True)
class IngestIssue:
    id: str
    name: str
    severity: Severity
    summary: str
    explanation: str
    fix: str
    family: str = "ingest"
    confidence: Confidence = Confidence.HIGH
    enabled_by_default: bool = True

    def finding(self, message: str, path: str = ".") -> Finding:
        return Finding(
            rule=self.id,
            name=self.name,
            family=self.family,
            severity=self.severity,
            confidence=self.confidence,
            message=message,
            location=Location(path),
            fix=self.fix,
        )


MEMBER_REFUSED = IngestIssue(
    "RA010",
    "archive-member-refused",
    Severity.MEDIUM,
    "A member of the submitted archive was not extracted (it would land outside the entry, or is a bomb).",
    "Archives are extracted with the tarfile data filter and equivalent checks for zip: members with absolute "
    "paths or `..`, links pointing out of the entry, device files, and members past the size, count or "
    "compression-ratio limits are refused. The rest of the entry is audited; the refused member is missing "
    "from it, as it would be from any safe rebuild.",
    "Repackage the submission with relative paths inside its own folder, and no links out of it.",
)
DUPLICATE_NAME = IngestIssue(
    "RA011",
    "duplicate-entry-name",
    Severity.LOW,
    "Two entries of the run have the same name; this one got a suffix.",
    "Entry names are `<track>/<user>/<repo>`. The same repository submitted twice (or two archives with the "
    "same layout) would otherwise overwrite each other's results; the later one is renamed `name#2`.",
    "Check that both submissions are meant to be audited; remove the duplicate from the manifest if not.",
)
UNPINNED_SUBMISSION = IngestIssue(
    "RA012",
    "unpinned-submission",
    Severity.MEDIUM,
    "The manifest gives no commit: the default branch's head was audited, and its commit recorded.",
    "A submission named by its repository URL alone is whatever the branch holds today, not what was "
    "submitted before the deadline; entrants kept pushing after it. The commit that was audited is recorded "
    "so the audit can be repeated, but it may not be the submitted one.",
    "Add the submitted commit to the manifest's `commit` column.",
)
NOT_INGESTED = IngestIssue(
    "RA013",
    "entry-not-ingested",
    Severity.HIGH,
    "The entry could not be brought onto disk (clone failed, commit missing, archive unreadable, empty).",
    "Nothing of the entry can be audited or rebuilt: the repository is gone or private, the commit does not "
    "exist, the archive is corrupt or password-protected, or it holds no file.",
    "Fix the URL, commit or archive named in the message, then run again with `--rerun ingest`.",
)

ISSUES: tuple[IngestIssue, ...] = (MEMBER_REFUSED, DUPLICATE_NAME, UNPINNED_SUBMISSION, NOT_INGESTED)
