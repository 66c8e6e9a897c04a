"""What ingesting an entry can report: the findings of the `ingest` stage of `repro-audit run`.

They are not rules over an entry's files (those are `audit.rules`): they say how the entry reached the
run (a member of its archive refused, a clone that failed, a submission with no commit). They carry ids
and explanations like rules do, so reports, `repro-audit rules` and suppressions treat them alike.
"""

from __future__ import annotations

from audit.issues import StageIssue
from audit.model import Severity

FAMILY = "ingest"

MEMBER_REFUSED = StageIssue(
    "RA010",
    "archive-member-refused",
    Severity.MEDIUM,
    "A member of the submitted archive was not extracted (it would land outside the entry, or is a bomb).",
    "Archives are extracted with the tarfile data filter and equivalent checks for zip: members with absolute "
    "paths or `..`, links pointing out of the entry, device files, and members past the size, count or "
    "compression-ratio limits are refused. The rest of the entry is audited; the refused member is missing "
    "from it, as it would be from any safe rebuild.",
    "Repackage the submission with relative paths inside its own folder, and no links out of it.",
    family=FAMILY,
)
DUPLICATE_NAME = StageIssue(
    "RA011",
    "duplicate-entry-name",
    Severity.LOW,
    "Two entries of the run have the same name; this one got a suffix.",
    "Entry names are `<track>/<user>/<repo>`. The same repository submitted twice (or two archives with the "
    "same layout) would otherwise overwrite each other's results; the later one is renamed `name#2`.",
    "Check that both submissions are meant to be audited; remove the duplicate from the manifest if not.",
    family=FAMILY,
)
UNPINNED_SUBMISSION = StageIssue(
    "RA012",
    "unpinned-submission",
    Severity.MEDIUM,
    "The manifest gives no commit: the default branch's head was audited, and its commit recorded.",
    "A submission named by its repository URL alone is whatever the branch holds today, not what was "
    "submitted before the deadline; entrants kept pushing after it. The commit that was audited is recorded "
    "so the audit can be repeated, but it may not be the submitted one.",
    "Add the submitted commit to the manifest's `commit` column.",
    family=FAMILY,
)
NOT_INGESTED = StageIssue(
    "RA013",
    "entry-not-ingested",
    Severity.HIGH,
    "The entry could not be brought onto disk (clone failed, commit missing, archive unreadable, empty).",
    "Nothing of the entry can be audited or rebuilt: the repository is gone or private, the commit does not "
    "exist, the archive is corrupt or password-protected, or it holds no file.",
    "Fix the URL, commit or archive named in the message, then run again with `--rerun ingest`.",
    family=FAMILY,
)

ISSUES: tuple[StageIssue, ...] = (MEMBER_REFUSED, DUPLICATE_NAME, UNPINNED_SUBMISSION, NOT_INGESTED)
