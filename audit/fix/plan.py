"""A fix of one submission: run the resolvers, link their changes to the findings they resolve, keep
changes from stepping on each other, and render the result as a patch or apply it.

Edits are character spans of the files as the entry's tree read them. Changes are taken in the order
of `KINDS`; a change with an edit overlapping one already taken is dropped whole, with a note, so a
file never receives half of a change. Nothing is written here except by `apply`, which the CLI calls
only for `--write`.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import git

from audit.engine import CheckOptions, audit_view
from audit.fix.model import KINDS, Change, Edit, FixSettings, Note, Progress, Resolver
from audit.model import Finding
from audit.rules import REGISTRY
from audit.views.entry import EntryView

PINNING_RULES = frozenset(
    {"RA101", "RA102", "RA103", "RA201", "RA202", "RA203", "RA204", "RA301", "RA302", "RA401", "RA405", "RA601",
     "RA602", "RA603"}
)  # fmt: skip
"""The findings a fix can resolve: everything that lets a rebuild take other bytes than the entrant had."""


@dataclass(frozen=True)
class Planned:
    change: Change
    findings: tuple[Finding, ...]  # the findings of the static audit its `resolves` name


@dataclass(frozen=True)
class FileChange:
    path: str
    old: str | None  # None: a new file
    new: str
    bom: bool = False  # the file started with a byte order mark, written back


@dataclass
class FixPlan:
    entry: str
    root: Path
    settings: FixSettings
    planned: list[Planned] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    files: dict[str, FileChange] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()  # the pinning findings before the fix

    @property
    def left(self) -> list[Finding]:
        """Pinning findings no planned change resolves."""
        resolved = {id(f) for p in self.planned for f in p.findings}
        return [f for f in self.findings if id(f) not in resolved]


def pinning_findings(view: EntryView) -> tuple[Finding, ...]:
    """The counting pinning findings of the entry, as `check` reports them (config and suppressions applied)."""
    rules = tuple(rule for rule in REGISTRY if rule.id in PINNING_RULES)
    return audit_view(view, CheckOptions(rules=rules, history=False)).counting()


def make_plan(
    view: EntryView, settings: FixSettings, resolvers: list[Resolver], progress: Progress, findings: tuple[Finding, ...]
) -> FixPlan:
    plan = FixPlan(view.entry.name, view.tree.root, settings, findings=findings)
    proposed: list[Change] = []
    for resolver in sorted(resolvers, key=lambda r: KINDS.index(r.kind)):
        if resolver.kind in settings.skip:
            plan.notes.append(Note(resolver.kind, None, None, f"skipped (--skip {resolver.kind})"))
            continue
        try:
            for item in resolver.propose(view, settings, progress):
                (proposed if isinstance(item, Change) else plan.notes).append(item)  # type: ignore[arg-type]
        except Exception as exc:  # a bug in one resolver must not cost the others
            plan.notes.append(Note(resolver.kind, None, None, f"failed: {type(exc).__name__}: {exc}"))
    taken: dict[str, list[tuple[int, int, str]]] = {}
    accepted: list[Change] = []
    for change in proposed:
        problem = _problem(view, change, taken)
        if problem:
            first = change.edits[0] if change.edits else None
            line = _line(view, first) if first else None
            plan.notes.append(Note(change.kind, first.path if first else None, line, f"not applied: {problem}"))
            continue
        for edit in change.edits:
            taken.setdefault(edit.path, []).append((edit.start, edit.end, change.kind))
        accepted.append(change)
    plan.files = _files(view, accepted)
    by_place = {(f.rule, f.location.path, f.location.line): f for f in findings}
    for change in accepted:
        linked = tuple(
            by_place[(r.rule, r.path, r.line)] for r in change.resolves if (r.rule, r.path, r.line) in by_place
        )
        plan.planned.append(Planned(change, linked))
    return plan


def _problem(view: EntryView, change: Change, taken: dict[str, list[tuple[int, int, str]]]) -> str | None:
    root = view.tree.root.resolve()
    for path in [e.path for e in change.edits] + [n.path for n in change.new_files]:
        if path.startswith("/") or not (root / path).resolve().is_relative_to(root):
            return f"{path} is outside the submission: fix writes only inside it"
    own: dict[str, list[tuple[int, int]]] = {}
    for edit in change.edits:
        if any(edit.start < end and start < edit.end for start, end in own.get(edit.path, [])):
            return f"two of its own edits of {edit.path} overlap (a resolver bug)"
        own.setdefault(edit.path, []).append((edit.start, edit.end))
    for edit in change.edits:
        text = view.tree.read_text(edit.path)
        if text is None or text.replaced_bytes:
            return f"{edit.path} cannot be read as UTF-8 text"
        if not 0 <= edit.start <= edit.end <= len(text.text):
            return f"an edit of {edit.path} falls outside the file (a resolver bug)"
        for start, end, kind in taken.get(edit.path, []):
            if edit.start < end and start < edit.end:
                return f"it overlaps a change of the {kind} resolver in {edit.path}, which was taken first"
    for new in change.new_files:
        if view.tree.exists(new.path) or (view.tree.root / new.path).exists():
            return f"it would overwrite {new.path}, which exists"
    return None


def _line(view: EntryView, edit: Edit) -> int | None:
    text = view.tree.read_text(edit.path)
    return text.text.count("\n", 0, edit.start) + 1 if text else None


def _files(view: EntryView, changes: list[Change]) -> dict[str, FileChange]:
    edits: dict[str, list[tuple[int, int, Edit]]] = {}
    order = 0
    for change in changes:
        for edit in change.edits:
            edits.setdefault(edit.path, []).append((edit.start, order, edit))
            order += 1
    files: dict[str, FileChange] = {}
    for path, items in edits.items():
        read = view.tree.read_text(path)
        assert read is not None  # checked in _problem
        old, pieces, at = read.text, [], 0
        for _start, _order, edit in sorted(items, key=lambda item: (item[0], item[1])):
            pieces.append(old[at : edit.start])
            pieces.append(edit.new)
            at = edit.end
        pieces.append(old[at:])
        new = "".join(pieces)
        if new != old:
            raw = view.tree.read_bytes(path) or b""
            files[path] = FileChange(path, old, new, bom=raw.startswith(b"\xef\xbb\xbf"))
    for change in changes:
        for new_file in change.new_files:
            files[new_file.path] = FileChange(new_file.path, None, new_file.text)
    return dict(sorted(files.items()))


# ---- output ------------------------------------------------------------------------------------------


def patch(plan: FixPlan) -> str:
    """A unified diff that `git apply` and `patch -p1` accept, each file's diff preceded by `#` lines
    naming the findings its changes resolve (both tools skip text between file diffs)."""
    out: list[str] = []
    for path, change in plan.files.items():
        for planned in plan.planned:
            if _touches(planned.change, path):
                out.append(f"# {planned.change.kind}: {planned.change.summary}\n")
                for finding in planned.findings:
                    where = f"{finding.location.path}:{finding.location.line or ''}".rstrip(":")
                    out.append(f"#   resolves {finding.rule} {finding.name} at {where}: {finding.message}\n")
        old = [] if change.old is None else _lines(change.old)
        new = _lines(change.new)
        before = "/dev/null" if change.old is None else f"a/{path}"
        for line in difflib.unified_diff(old, new, before, f"b/{path}"):
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _lines(text: str) -> list[str]:
    """Lines as git and patch count them: split at newlines only (str.splitlines also splits at form
    feeds and other separators, which would put a line break into the patch that the file lacks)."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def _touches(change: Change, path: str) -> bool:
    return any(e.path == path for e in change.edits) or any(n.path == path for n in change.new_files)


def summary_lines(plan: FixPlan, left: list[Finding] | None = None) -> list[str]:
    """What a person reads first: the cut-off, each change with what it resolves, notes, and what is left
    (`left`: the findings of an audit after writing, instead of the plan's prediction)."""
    settings = plan.settings
    lines = [f"fix {plan.entry}: as of {settings.cutoff.isoformat()} ({settings.cutoff_source})"]
    if plan.planned:
        lines.append(f"{len(plan.planned)} change(s):")
    for number, planned in enumerate(plan.planned, 1):
        lines.append(f"  {number}. [{planned.change.kind}] {planned.change.summary}")
        for finding in planned.findings:
            lines.append(f"       resolves {finding.rule} {finding.location.path}:{finding.location.line or ''}")
        for caveat in planned.change.caveats:
            lines.append(f"       note: {caveat}")
    if plan.notes:
        lines.append(f"{len(plan.notes)} thing(s) not done:")
    for note in plan.notes:
        where = f" {note.path}:{note.line}" if note.path and note.line else f" {note.path}" if note.path else ""
        lines.append(f"  - [{note.kind}]{where}: {note.message}")
    left = plan.left if left is None else left
    if left:
        lines.append(f"{len(left)} pinning finding(s) left:")
        for finding in left:
            lines.append(f"  - {finding.rule} {finding.location.path}:{finding.location.line or ''}: {finding.message}")
    elif not plan.planned:
        lines.append("nothing to pin: no pinning finding")
    return lines


def as_json(plan: FixPlan) -> dict[str, object]:
    """The documented JSON shape of `fix --format json` (schema_version 1)."""
    return {
        "schema_version": 1,
        "entry": plan.entry,
        "cutoff": plan.settings.cutoff.isoformat(),
        "cutoff_source": plan.settings.cutoff_source,
        "changes": [
            {
                "kind": p.change.kind,
                "summary": p.change.summary,
                "files": sorted({e.path for e in p.change.edits} | {n.path for n in p.change.new_files}),
                "resolves": [finding_json(f) for f in p.findings],
                "caveats": list(p.change.caveats),
            }
            for p in plan.planned
        ],
        "notes": [{"kind": n.kind, "path": n.path, "line": n.line, "message": n.message} for n in plan.notes],
        "left": [finding_json(f) for f in plan.left],
        "patch": patch(plan),
    }


def finding_json(finding: Finding) -> dict[str, object]:
    where = finding.location
    return {
        "rule": finding.rule,
        "name": finding.name,
        "path": where.path,
        "line": where.line,
        "message": finding.message,
    }


# ---- writing -----------------------------------------------------------------------------------------


def working_tree_problem(root: Path) -> str | None:
    """Why writing into `root` could lose work that git cannot give back, None when it is safe."""
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return f"{root} is not in a git repository, so the changes could not be undone"
    try:
        inside = os.path.relpath(root.resolve(), Path(repo.working_tree_dir or root).resolve())
        dirty = repo.is_dirty(untracked_files=True, path=None if inside == "." else inside)
    except (git.GitCommandError, ValueError) as exc:
        return f"git cannot tell whether {root} has uncommitted changes ({exc})"
    if dirty:
        return f"{root} has uncommitted changes or untracked files"
    return None


def apply(plan: FixPlan) -> list[str]:
    """Write the planned files (each through a temporary file renamed over it); the paths written."""
    written = []
    for path, change in plan.files.items():
        target = plan.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        data = change.new.encode("utf-8")
        if change.bom:
            data = b"\xef\xbb\xbf" + data
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask()
        handle, temporary = tempfile.mkstemp(prefix=".repro-audit-fix.", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.chmod(temporary, mode)  # mkstemp makes 0600: a new lock must be readable where it is COPYed
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(path)
    return written


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
