"""`repro-audit run SOURCE --out DIR`: every entry of a source through every stage, resumable.

1. The source is prepared once (recorded in the state): a folder is used in place, an archive is
   extracted safely into `DIR/workspace/` (into a temporary folder renamed when complete, so a killed
   extraction is redone, never half used), a manifest is read. Its entries are recorded with unique names.
2. Stages run per entry in order (`ingest`, then `static`) on a pool of worker processes. The main
   process alone writes the state: a stage is marked running when it is handed out and its whole result
   is committed in one transaction when it comes back.
3. A resumed run skips finished stages and reruns those left running or interrupted; `--rerun STAGE`
   forces one; `--entries PATTERN` limits the run. Ctrl-C cancels what has not started, marks what was
   running as interrupted, and leaves a resumable state.
"""

from __future__ import annotations

import fcntl
import fnmatch
import os
import shutil
import signal
import time
import traceback
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Protocol

from audit.discover import TRACKS, DiscoveryError, EntrySource, find_entries, looks_like_repo
from audit.process import die_with_parent
from audit.runner.stages import STAGES, Prior, RunContext, Stage, StageOutcome
from audit.runner.state import EntryRow, State

MANIFEST_SUFFIXES = (".tsv", ".csv")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


class RunError(Exception):
    """The run cannot start (unreadable source, unusable --out); the message says what to do."""


class Progress(Protocol):
    def planned(self, total: int) -> None: ...
    def started(self, entry: str, stage: str) -> None: ...
    def finished(self, entry: str, stage: str, status: str, reason: str | None) -> None: ...
    def note(self, message: str) -> None: ...


class SilentProgress:
    def planned(self, total: int) -> None:
        pass

    def started(self, entry: str, stage: str) -> None:
        pass

    def finished(self, entry: str, stage: str, status: str, reason: str | None) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@dataclass(frozen=True)
class RunOptions:
    out: Path
    jobs: int = 0  # 0: one per CPU
    rerun: tuple[str, ...] = ()  # stage names to run again even when finished
    entries: tuple[str, ...] = ()  # fnmatch patterns over entry names; empty: all
    context: RunContext | None = None  # built from `out` when None
    stages: tuple[Stage, ...] = field(default_factory=lambda: STAGES)
    before: tuple[BeforeHook, ...] = ()  # called once the folder is locked, before any stage runs


class BeforeHook(Protocol):
    """Work a run does before its stages, under the run folder's lock (e.g. removing what a killed run
    left in the Docker Engine)."""

    def __call__(self, state: State, context: RunContext, progress: Progress) -> None: ...


@dataclass
class RunResult:
    state: State
    ran: int = 0  # stage runs in this invocation
    interrupted: bool = False


def run(source: Path, options: RunOptions, progress: Progress | None = None) -> RunResult:
    progress = progress or SilentProgress()
    out = options.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the run folder {out}: {exc.strerror or exc}") from None
    with run_lock(out):
        context = options.context or RunContext(run_dir=out.resolve())
        state = State(out / "state.sqlite")
        context = replace(context, run_id=state.run_id())
        stale = state.mark_unfinished("interrupted")
        if stale:
            progress.note(f"resuming: {stale} stage(s) left running by an earlier run will run again")
        for hook in options.before:
            hook(state, context, progress)
        prepare_source(source, state, context.run_dir, progress)
        entries = [e for e in state.entries() if _wanted(e.name, options.entries)]
        result = RunResult(state)
        try:
            _run_stages(entries, state, context, options, progress, result)
        except KeyboardInterrupt:
            result.interrupted = True
            state.mark_unfinished("interrupted")
        return result


LOCK_WAIT_SECONDS = 10.0
"""How long a run or `clean` waits for the folder's lock: the workers of a run just killed take a moment
to die (they are killed with it, asynchronously) and hold the lock until then."""


@contextmanager
def run_lock(out: Path, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """One process at a time works on a run folder (a run, `repro-audit clean`): a second one would
    hand out the same stages twice, or remove the containers of builds still running."""
    path = out / ".lock"
    try:
        handle = path.open("a+", encoding="utf-8")
    except OSError as exc:
        raise RunError(f"cannot lock the run folder {out}: {exc.strerror or exc}") from None
    with handle:
        if not _acquire(handle, wait):
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunError(f"{out} is in use by {holder}: wait for it to end (or stop it) and try again") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"repro-audit (pid {os.getpid()})\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---- the source -----------------------------------------------------------------------------------


def prepare_source(source: Path, state: State, run_dir: Path, progress: Progress) -> None:
    """Discover the source's entries once; a resumed run finds them in the state."""
    source_id = str(source.resolve())
    known = state.source(source_id)
    if known is not None and known[1] is not None:
        return
    if not source.exists():
        raise RunError(f"{source} does not exist: give a folder, an archive or a manifest (.tsv/.csv)")
    data: dict[str, object] = {}
    if source.is_dir():
        kind, rows = "folder", _folder_entries(source)
    elif source.suffix.lower() in MANIFEST_SUFFIXES:
        kind, (rows, data) = "manifest", _manifest_entries(source)
    else:
        kind, (rows, data) = "archive", _archive_entries(source, run_dir, progress)
    state.add_entries(_unique(rows, start=len(state.entries())))
    state.source_prepared(source_id, kind, data)


def _folder_entries(folder: Path) -> list[EntryRow]:
    """The entries of a folder: repository folders, and archive files laid out like them (evaluators
    passed zips around: `A100/alice/repo.zip` is the entry `A100/alice/repo`, extracted at ingest)."""
    try:
        found = find_entries(folder)
    except DiscoveryError as exc:
        raise RunError(str(exc)) from None
    archives = _archive_files(folder.resolve())
    holders = {path.parent for _name, _track, path in archives}
    rows = [_row(s, "folder", str(s.path), {}) for s in found if not (s.path in holders and _only_archives(s.path))]
    rows += [EntryRow(name, 0, track, "archive-file", str(path), None, {}) for name, track, path in archives]
    return rows


def _archive_files(root: Path) -> list[tuple[str, str | None, Path]]:
    """Archive files at the top of a folder, in its track folders and in their user folders."""
    found = []
    levels = [root]
    for _depth in range(3):
        deeper = []
        for folder in levels:
            try:
                children = sorted(folder.iterdir(), key=lambda p: p.name)
            except OSError:
                continue
            for child in children:
                if child.is_file() and not child.is_symlink() and child.name.lower().endswith(ARCHIVE_SUFFIXES):
                    parts = child.relative_to(root).with_name(_safe_stem(child)).parts
                    track = TRACKS.get(parts[0].lower()) if len(parts) > 1 else None
                    found.append(("/".join(parts), track, child))
                elif child.is_dir() and not child.is_symlink() and not looks_like_repo(child):
                    deeper.append(child)
        levels = deeper
    return found


def _only_archives(folder: Path) -> bool:
    return all(p.is_file() and p.name.lower().endswith(ARCHIVE_SUFFIXES) for p in folder.iterdir())


def _manifest_entries(path: Path) -> tuple[list[EntryRow], dict[str, object]]:
    from audit.ingest.manifest import ManifestError, read_manifest

    try:
        rows, problems = read_manifest(path)
    except ManifestError as exc:
        raise RunError(str(exc)) from None
    entries = [EntryRow(row.name, 0, row.track, "git", row.url, None, {"row": _row_dict(row)}) for row in rows]
    return entries, {"problems": [{"line": p.line, "message": p.message} for p in problems]}


def _archive_entries(archive: Path, run_dir: Path, progress: Progress) -> tuple[list[EntryRow], dict[str, object]]:
    from audit.ingest.extract import ExtractError, archive_kind, extract

    if archive_kind(archive) is None:
        raise RunError(f"{archive} is neither a folder, a manifest (.tsv/.csv) nor an archive (.zip, .tar.*)")
    workspace = run_dir / "workspace" / "archives"
    final = workspace / _safe_stem(archive)
    partial = final.with_name(final.name + ".partial")
    for leftover in (partial, final):  # an extraction a killed run left behind is redone from scratch
        if leftover.exists():
            shutil.rmtree(leftover)
    workspace.mkdir(parents=True, exist_ok=True)
    progress.note(f"extracting {archive} into {final}")
    try:
        extraction = extract(archive, partial)
    except ExtractError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise RunError(str(exc)) from None
    os.replace(partial, final)
    refused = [{"member": r.member, "reason": r.reason} for r in extraction.refused]
    try:
        found = find_entries(final)
    except DiscoveryError:
        found = []
    if len(found) == 1 and found[0].path == final.resolve():
        found = [EntrySource(_safe_stem(archive), found[0].path, found[0].track)]
    rows = []
    for source in found:
        mine = [r for r in refused if _member_in(r["member"], source.path, final)]
        rows.append(_row(source, "archive", f"{archive}!{source.path.relative_to(final.resolve())}", {"refused": mine}))
    if not rows:
        raise RunError(f"{archive} holds no file to audit")
    return rows, {"refused": refused, "files": extraction.files, "bytes": extraction.bytes}


def _member_in(member: str, entry_path: Path, root: Path) -> bool:
    """Whether a refused member's name falls inside an entry's folder (by its path in the archive)."""
    relative = entry_path.relative_to(root.resolve()).as_posix()
    name = member.lstrip("/")
    return relative == "." or name == relative or name.startswith(relative + "/") or ".." in name.split("/")


def _row(source: EntrySource, kind: str, where: str, data: dict[str, object]) -> EntryRow:
    return EntryRow(source.name, 0, source.track, kind, where, str(source.path), dict(data))


def _row_dict(row: object) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(row)  # type: ignore[call-overload, no-any-return]


def _unique(rows: list[EntryRow], start: int) -> Iterator[EntryRow]:
    seen: dict[str, int] = {}
    for offset, row in enumerate(rows):
        count = seen.get(row.name, 0) + 1
        seen[row.name] = count
        name, data = row.name, row.data
        if count > 1:
            name, data = f"{row.name}#{count}", {**row.data, "renamed_from": row.name}
        yield EntryRow(name, start + offset, row.track, row.source_kind, row.source, row.path, data)


def _safe_stem(archive: Path) -> str:
    name = archive.name
    for suffix in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".tar", ".zip"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or "archive"
    return archive.stem or "archive"


def _wanted(name: str, patterns: tuple[str, ...]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


# ---- the stages -----------------------------------------------------------------------------------


def _run_stages(
    entries: list[EntryRow],
    state: State,
    context: RunContext,
    options: RunOptions,
    progress: Progress,
    result: RunResult,
) -> None:
    todo = {e.name: _pending(e, list(options.stages), state, options.rerun) for e in entries}
    queue = deque(name for name, stages in todo.items() if stages)
    progress.planned(sum(len(stages) for stages in todo.values()))
    if not queue:
        return
    jobs = max(1, min(options.jobs or os.cpu_count() or 1, len(queue)))
    in_flight = jobs * 2  # enough to keep every worker busy while results are being committed
    with ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_interrupts) as pool:
        running: dict[Future[StageOutcome], tuple[str, Stage]] = {}

        def hand_out(name: str) -> None:
            stage = todo[name].pop(0)
            entry = state.entry(name)
            assert entry is not None
            state.start_stage(name, stage.name)
            progress.started(name, stage.name)
            prior = _prior(state, name, stage)
            running[pool.submit(_run_one, stage, entry, context, prior)] = (name, stage)

        def fill() -> None:
            while queue and len(running) < in_flight:
                hand_out(queue.popleft())

        try:
            fill()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name, stage = running.pop(future)
                    outcome = future.result()
                    _commit(state, name, stage.name, outcome)
                    result.ran += 1
                    progress.finished(name, stage.name, outcome.status, outcome.reason)
                    stop = outcome.status in ("skipped", "errored") or (
                        stage.name == "ingest" and outcome.status == "failed"
                    )
                    if stop and todo[name]:
                        # a later stage that can do without this one's result still runs (eval without training)
                        going_on = [s for s in todo[name] if stage.name in getattr(s, "optional", ())]
                        doomed = [s for s in todo[name] if s not in going_on]
                        _skip_rest(state, name, doomed, f"{stage.name} {outcome.status}", progress)
                        todo[name] = going_on
                    if todo[name]:
                        hand_out(name)  # the entry's next stage goes first: it finishes entries early
                fill()
        except KeyboardInterrupt:
            progress.note("interrupted: stopping the workers; what was running will run again next time")
            for future in running:
                future.cancel()
            _stop_workers(pool)
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _acquire(handle: IO[str], wait: float) -> bool:
    until = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= until:
                return False
            time.sleep(0.1)


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the main process, which stops them and records what was interrupted, and
    die with it when it is killed. Stopped with SIGTERM (`_stop_workers`), a worker unwinds: the stage's
    cleanup runs (the evaluated server's container and network removed, HELM killed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_terminate)
    die_with_parent()


def _exit_on_terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the worker processes now: a stage's result is only kept once committed, so a stage cut
    short is simply run again on resume. (`ProcessPoolExecutor` has no public way to do this.)"""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        if process.is_alive():
            process.terminate()


def _pending(entry: EntryRow, stages: list[Stage], state: State, rerun: tuple[str, ...]) -> list[Stage]:
    pending: list[Stage] = []
    for stage in stages:
        row = state.stage(entry.name, stage.name)
        if row is None or not row.finished or stage.name in rerun or pending:
            pending.append(stage)  # a stage after one that runs again runs again too: it reads its result
    return pending


def _prior(state: State, name: str, stage: Stage) -> dict[str, Prior]:
    """The results of the stages `stage` reads, from the state (read here: workers never open it)."""
    prior = {}
    for needed in stage.needs:
        row = state.stage(name, needed)
        if row is not None and row.finished:
            prior[needed] = Prior(row.status, row.reason, row.data, tuple(state.findings(name, needed)))
    return prior


def _run_one(stage: Stage, entry: EntryRow, context: RunContext, prior: dict[str, Prior]) -> StageOutcome:
    """In a worker: one stage on one entry; an exception is an `errored` outcome, never a lost batch."""
    try:
        return stage.run(entry, context, prior)
    except Exception as exc:  # a bug or an unexpected input in one entry must not stop the batch
        where = traceback.extract_tb(exc.__traceback__)[-1]
        reason = f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
        return StageOutcome("errored", reason)


def _commit(state: State, name: str, stage: str, outcome: StageOutcome) -> None:
    if outcome.entry_path is not None or outcome.entry_data is not None:
        state.update_entry(name, path=outcome.entry_path, data=outcome.entry_data)
    state.finish_stage(
        name,
        stage,
        outcome.status,
        reason=outcome.reason,
        findings=outcome.findings,
        artifacts=outcome.artifacts,
        data=outcome.data,
    )


def _skip_rest(state: State, name: str, stages: list[Stage], why: str, progress: Progress) -> None:
    for stage in stages:
        state.start_stage(name, stage.name)
        state.finish_stage(name, stage.name, "skipped", reason=f"not run: {why}")
        progress.finished(name, stage.name, "skipped", f"not run: {why}")
