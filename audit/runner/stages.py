"""The stages of a run, one interface: `ingest` and `static` now; `build`, `train`, `eval` plug in later.

A stage runs in a worker process on one entry and returns a `StageOutcome`; it never touches the state
database (the runner commits the outcome in one transaction). A stage that cannot check something says
so with status `skipped` and a reason; an exception inside a stage becomes `errored` in the runner, so
one entry's problem never stops the others.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from audit.discover import EntrySource, is_dockerfile
from audit.ingest import issues
from audit.model import Finding, Severity
from audit.runner.state import EntryRow
from audit.serialize import finding_dict
from audit.tree import SKIPPED_DIRS

if TYPE_CHECKING:
    from audit.engine import CheckOptions


@dataclass(frozen=True)
class RunContext:
    """What every stage may read: the run folder and the options. Picklable."""

    run_dir: Path
    check: CheckOptions | None = None  # None: the defaults of `repro-audit check`
    fail_on: Severity = Severity.HIGH
    clone_timeout: float = 600.0
    run_id: str = ""  # the run's id (state meta `run_id`): labels what the run creates outside its folder


@dataclass(frozen=True)
class StageOutcome:
    status: str  # passed | failed | skipped | errored
    reason: str | None = None
    findings: tuple[dict[str, Any], ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    entry_path: str | None = None  # set by ingest: where the entry's files now are
    entry_data: dict[str, Any] | None = None  # set by ingest: what to record about the entry
    artifacts: dict[str, str] = field(default_factory=dict)  # kind -> path relative to the run folder


@dataclass(frozen=True)
class Prior:
    """What an earlier stage recorded for the entry, as a later stage reads it."""

    status: str
    reason: str | None
    data: dict[str, Any]
    findings: tuple[dict[str, Any], ...]


class Stage(Protocol):
    """A stage may also have `optional`: the stages of `needs` it can run without (when one of them is
    skipped or errored, this one still runs, and reads that result as it is); the others stop it."""

    name: str
    needs: tuple[str, ...]  # stages whose results this one reads (run first, even when not asked for)

    def run(self, entry: EntryRow, context: RunContext, prior: dict[str, Prior]) -> StageOutcome: ...


class IngestStage:
    """Bring the entry onto disk: a folder is used in place, an archive was extracted when the source was
    prepared, a git URL is cloned (at the manifest's commit, else the default branch's head)."""

    name = "ingest"
    needs: tuple[str, ...] = ()

    def run(self, entry: EntryRow, context: RunContext, prior: dict[str, Prior]) -> StageOutcome:
        findings = [finding_dict(f) for f in _recorded_findings(entry)]
        if entry.source_kind == "git":
            return self._clone(entry, context, findings)
        if entry.source_kind == "archive-file":
            return self._extract(entry, context, findings)
        path = entry.path or entry.source
        if not Path(path).is_dir() or not _has_files(Path(path)):
            message = f"no file to audit at {path}"
            findings.append(finding_dict(issues.NOT_INGESTED.finding(message)))
            return StageOutcome("failed", message, tuple(findings))
        return StageOutcome("passed", None, tuple(findings), entry_path=path)

    def _clone(self, entry: EntryRow, context: RunContext, findings: list[dict[str, Any]]) -> StageOutcome:
        from audit.ingest.manifest import ManifestRow, clone

        row = ManifestRow(**entry.data["row"])
        destination = context.run_dir / "workspace" / "git" / entry.name
        if destination.exists():  # a clone finished by an earlier, interrupted attempt of this stage
            shutil.rmtree(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        result = clone(row, destination, timeout=context.clone_timeout)
        if result.path is None:
            message = result.error or "the clone failed"
            findings.append(finding_dict(issues.NOT_INGESTED.finding(message)))
            return StageOutcome("failed", message, tuple(findings), entry_data={**entry.data, "error": message})
        if not result.pinned:
            message = f"no commit in the manifest: audited the default branch's head, commit {result.commit}"
            findings.append(finding_dict(issues.UNPINNED_SUBMISSION.finding(message)))
        data = {**entry.data, "commit": result.commit, "pinned": result.pinned}
        return StageOutcome(
            "passed",
            None,
            tuple(findings),
            data={"commit": result.commit},
            entry_path=str(result.path),
            entry_data=data,
        )

    def _extract(self, entry: EntryRow, context: RunContext, findings: list[dict[str, Any]]) -> StageOutcome:
        from audit.ingest.extract import ExtractError, extract

        final = context.run_dir / "workspace" / "archive-files" / entry.name
        partial = final.with_name(final.name + ".partial")
        for leftover in (partial, final):  # what an interrupted attempt left is redone from scratch
            if leftover.exists():
                shutil.rmtree(leftover)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            extraction = extract(Path(entry.source), partial)
        except ExtractError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            findings.append(finding_dict(issues.NOT_INGESTED.finding(str(exc))))
            return StageOutcome("failed", str(exc), tuple(findings))
        os.replace(partial, final)
        refused = [{"member": r.member, "reason": r.reason} for r in extraction.refused]
        findings.extend(finding_dict(issues.MEMBER_REFUSED.finding(f"{r['member']}: {r['reason']}")) for r in refused)
        root = _single_folder(final)
        if not _has_files(root):
            message = f"{entry.source} holds no file to audit"
            findings.append(finding_dict(issues.NOT_INGESTED.finding(message)))
            return StageOutcome("failed", message, tuple(findings))
        data = {"files": extraction.files, "bytes": extraction.bytes, "refused": len(refused)}
        return StageOutcome("passed", None, tuple(findings), data, entry_path=str(root))


class StaticStage:
    """`repro-audit check` on the entry: every static rule, the secret scan included."""

    name = "static"
    needs: tuple[str, ...] = ("ingest",)

    def run(self, entry: EntryRow, context: RunContext, prior: dict[str, Prior]) -> StageOutcome:
        # Imported here, in the worker: the rules and the secret scanner are not needed by the main process,
        # and loading them there would cost a resumed run that has nothing left to do.
        from audit.engine import CheckOptions, audit_entry

        if entry.path is None:
            return StageOutcome("skipped", "the entry was not ingested")
        options = context.check or CheckOptions(jobs=1)
        report = audit_entry(EntrySource(entry.name, Path(entry.path), entry.track), None, options)
        findings = tuple(finding_dict(f) for f in report.findings)
        blocking = [f for f in report.findings if f.counts and f.severity >= context.fail_on]
        data = {
            "files": report.files_scanned,
            "targets": [
                {"dockerfile": t.dockerfile, "context": t.context, "role": t.role.value, "role_reason": t.role_reason}
                for t in report.entry.targets
            ],
            "bot_dockerfile": bot_dockerfile(Path(entry.path)),
            "secrets": [
                {"kind": s.kind, "fingerprint": s.fingerprint, "redacted": s.redacted, "lives": s.lives,
                 "paths": list(s.paths)}
                for s in report.secrets
            ],
        }  # fmt: skip
        if blocking:
            reason = f"{len(blocking)} finding(s) at or above {context.fail_on.label}"
            return StageOutcome("failed", reason, findings, data)
        return StageOutcome("passed", None, findings, data)


STAGES: tuple[Stage, ...] = (IngestStage(), StaticStage())
BY_NAME: dict[str, Stage] = {stage.name: stage for stage in STAGES}


def bot_dockerfile(root: Path) -> str | None:
    """The Dockerfile the competition's evaluation bot would have built: it took the first one a recursive
    scan found. The scan is taken as depth-first with names in sorted order, files before folders."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(files):
            if is_dockerfile(name):
                return Path(folder, name).relative_to(root).as_posix()
    return None


def _recorded_findings(entry: EntryRow) -> list[Finding]:
    """What was found about the entry before its stages ran: refused archive members, a renamed duplicate."""
    found = [issues.MEMBER_REFUSED.finding(f"{m['member']}: {m['reason']}") for m in entry.data.get("refused", [])]
    if entry.data.get("renamed_from"):
        found.append(
            issues.DUPLICATE_NAME.finding(f"another entry is also named {entry.data['renamed_from']!r}: renamed")
        )
    return found


def _single_folder(root: Path) -> Path:
    """An archive that holds one folder and nothing else (`repo/...`): that folder is the entry."""
    children = list(root.iterdir())
    if len(children) == 1 and children[0].is_dir() and not children[0].is_symlink():
        return children[0]
    return root


def _has_files(folder: Path) -> bool:
    return any(files for _root, _dirs, files in os.walk(folder))
