"""Secrets in a repository's history: every blob reachable from any ref, each distinct blob scanned once.

One `git log --all --raw` pass (through GitPython) lists, commit by commit in date order, every path
whose blob changed, with the old and new blob ids. The distinct new blobs are read once each, by two
`cat-file --batch` processes fed their ids from a file (sizes first, then contents: no round trip per
blob, nothing over the size limit read), and scanned like files. The same log then tells, for each secret
and path, the commit that first put a blob holding it there and the commit that last took it out (a
change to a blob without it, or a deletion); a secret still in the tree of some ref (a branch, a tag,
a detached HEAD) has no removing commit, even when another branch removed it.

The audited repository is not trusted: git runs with no system or user configuration and only
plumbing commands, with the repository named explicitly (`GIT_DIR`, never found from a working
directory its `core.worktree` could point elsewhere), and settings that would run a program are
overridden: `core.fsmonitor`, `log.showSignature` (which runs `gpg.program`), and fetching from a
promisor remote of a partial clone (no transport is allowed). Any owner is accepted (`safe.directory`).
A repository that could lead outside the entry (a `.git` file, `commondir`, alternates, a symbolic
link among the files git reads) is not read. Shallow, corrupt or empty repositories become gaps, not
errors.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import git
from git.exc import GitCommandError, GitError

from audit.secrets.content import ContentScanner, Hit

_NULL = "0" * 40
_GITLINK = b"160000"
SAFE_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    # a path that cannot exist, not os.devnull: run as root, a git that writes its global config would
    # replace /dev/null with a regular file (seen on this machine)
    "GIT_CONFIG_GLOBAL": "/nonexistent/repro-audit/gitconfig",
    "GIT_CONFIG_PARAMETERS": "",  # no `git -c` settings inherited from whatever runs the audit
    "GIT_CONFIG_COUNT": "3",  # these beat the repository's own config
    "GIT_CONFIG_KEY_0": "safe.directory",
    "GIT_CONFIG_VALUE_0": "*",
    "GIT_CONFIG_KEY_1": "core.fsmonitor",
    "GIT_CONFIG_VALUE_1": "false",
    "GIT_CONFIG_KEY_2": "log.showSignature",
    "GIT_CONFIG_VALUE_2": "false",
    "GIT_ALLOW_PROTOCOL": "",  # a partial clone would fetch a missing object, running the remote's transport
    "GIT_NO_LAZY_FETCH": "1",  # the same, said directly (git 2.44 and later)
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_NO_REPLACE_OBJECTS": "1",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES": "",
    "GIT_NAMESPACE": "",
}
# What git reads for `log --all` and `cat-file`; a symbolic link among them could read another repository.
_READ_BY_GIT = ("HEAD", "config", "packed-refs", "shallow", "commondir", "refs", "objects", "info")
_MAX_BLOB_GAPS = 20  # unreadable blobs named one by one; the rest counted


@dataclass(frozen=True)
class HistoryHit:
    """A secret in a blob of the history, with where and when it was there."""

    hit: Hit  # line numbers are those of the blob
    path: str  # the path the blob had (the first one, if it had several)
    blob: str
    added: str  # the first commit (by date) that put a blob holding this secret at this path
    removed: str | None  # the commit that took it out of this path; None: still there on some branch
    message: str | None = None  # "commit message" or "tag message": the secret is in that text, not a blob


@dataclass
class HistoryScan:
    hits: list[HistoryHit] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # what could not be scanned, for people
    commits: int = 0
    blobs: int = 0
    scanned: bool = False  # a repository was found and read


@dataclass(frozen=True)
class _Change:
    commit: str
    path: bytes  # as git has it: the same text can stand for two names that are not UTF-8
    old: str
    new: str


def find_git_dir(root: Path) -> tuple[Path | None, str | None]:
    """The repository of an entry (work tree `.git` or a bare repository), or why it is not read."""
    dot_git = root / ".git"
    if dot_git.is_symlink():
        return None, ".git is a symbolic link: history not scanned (it could lead outside the entry)"
    if dot_git.is_file():
        return None, ".git is a file pointing at a repository elsewhere (worktree or submodule): history not scanned"
    if dot_git.is_dir():
        candidate = dot_git
    elif (root / "HEAD").is_file() and (root / "objects").is_dir() and (root / "refs").is_dir():
        candidate = root  # a bare repository
    else:
        return None, None
    if _has_symlink(candidate):
        return None, "the repository holds symbolic links (they could lead outside the entry): history not scanned"
    if (candidate / "commondir").exists():
        return None, "the repository shares refs and objects with another one (commondir): history not scanned"
    if (candidate / "objects" / "info" / "alternates").exists():
        return None, "the repository borrows objects from outside the entry (alternates): history not scanned"
    return candidate, None


def _has_symlink(git_dir: Path) -> bool:
    pending = [git_dir / name for name in _READ_BY_GIT]
    while pending:
        path = pending.pop()
        if path.is_symlink():
            return True
        if path.is_dir():
            try:
                pending.extend(Path(entry.path) for entry in os.scandir(path))
            except OSError:
                continue  # unreadable: git will fail on it and that becomes a gap
    return False


def scan_history(root: Path, scanner: ContentScanner) -> HistoryScan:
    result = HistoryScan()
    git_dir, why_not = find_git_dir(root)
    if why_not:
        result.gaps.append(why_not)
    if git_dir is None:
        return result
    if (git_dir / "shallow").exists():
        result.gaps.append("shallow clone: commits before the cut are missing and were not scanned")
    try:
        git.Repo(git_dir).close()  # only to tell a repository from a folder that merely looks like one
    except (GitError, OSError) as exc:
        result.gaps.append(f"not a readable git repository ({type(exc).__name__}): history not scanned")
        return result
    # Not `Repo.git`: its working directory comes from the repository's own `core.worktree`.
    git_dir = git_dir.absolute()
    runner = git.Git(os.fspath(git_dir))
    runner.update_environment(
        **SAFE_GIT_ENV,
        GIT_DIR=os.fspath(git_dir),
        GIT_COMMON_DIR=os.fspath(git_dir),
        GIT_OBJECT_DIRECTORY=os.fspath(git_dir / "objects"),
    )
    try:
        _scan(runner, scanner, result)
    except GitCommandError as exc:
        result.gaps.append(
            f"git could not read the history ({_first_line(exc.stderr) or exc.status}): {_partial(result)}"
        )
    except (GitError, OSError, ValueError) as exc:
        result.gaps.append(f"git could not read the history ({type(exc).__name__}): {_partial(result)}")
    return result


def _scan(runner: git.Git, scanner: ContentScanner, result: HistoryScan) -> None:
    commits, changes = _changes(runner)
    if not commits:
        return  # an empty repository: nothing committed
    result.scanned = True
    result.commits = commits
    first_path: dict[str, str] = {}
    for change in changes:
        if change.new != _NULL and change.new not in first_path:
            first_path[change.new] = _path_text(change.path)
    limit = scanner.limits.max_file_bytes
    sizes = _sizes(runner, list(first_path))
    unreadable = [blob for blob in first_path if blob not in sizes]
    wanted = []
    for blob, size in sizes.items():
        if size > limit:
            path = first_path[blob]
            result.gaps.append(f"{path} (blob {blob[:12]}): {size // 1024} KiB is over the scan limit, not scanned")
        else:
            wanted.append(blob)
    by_blob: dict[str, list[Hit]] = {}
    for blob, data in _contents(runner, wanted):
        if data is None:
            unreadable.append(blob)
            continue
        path = first_path[blob]
        scanned = scanner.scan(data, path)
        result.blobs += 1
        result.gaps.extend(f"{path} (blob {blob[:12]}): {gap.message}" for gap in scanned.gaps)
        if scanned.hits:
            by_blob[blob] = scanned.hits
    for blob in unreadable[:_MAX_BLOB_GAPS]:
        result.gaps.append(f"{first_path[blob]} (blob {blob[:12]}): missing or corrupt object, not scanned")
    if len(unreadable) > _MAX_BLOB_GAPS:
        result.gaps.append(f"{len(unreadable) - _MAX_BLOB_GAPS} more missing or corrupt blobs, not scanned")
    if by_blob:
        result.hits.extend(_place(runner, changes, by_blob))
    result.hits.extend(_messages(runner, scanner))


def _messages(runner: git.Git, scanner: ContentScanner) -> Iterator[HistoryHit]:
    """Secrets in commit messages and annotated tag messages (`git commit -m "... token ..."`)."""
    commits = runner.execute(
        ["git", "log", "--all", "--no-show-signature", "-z", "--format=%H%x00%B"], stdout_as_string=False
    )
    tags = runner.execute(
        ["git", "for-each-ref", "refs/tags", "--format=%(objecttype) %(objectname)%00%(contents)%00%01"],
        stdout_as_string=False,
    )
    assert isinstance(commits, bytes) and isinstance(tags, bytes)
    fields = commits.split(b"\0")
    texts = [("commit message", fields[i].strip(), fields[i + 1]) for i in range(0, len(fields) - 1, 2)]
    for record in tags.split(b"\x01"):
        head, _, body = record.strip(b"\n").partition(b"\0")
        kind, _, name = head.partition(b" ")
        if kind == b"tag":
            texts.append(("tag message", name, body.rstrip(b"\0")))
    for what, name, text in texts:
        if not text:
            continue
        identity = name.decode("ascii", "replace")
        for hit in scanner.scan_text(text.decode("utf-8", "replace"), what):
            yield HistoryHit(hit, ".", identity, identity, None, message=what)


def _sizes(runner: git.Git, blobs: list[str]) -> dict[str, int]:
    """The size of every blob the repository has, in one `cat-file --batch-check` (missing ones left out)."""
    with tempfile.TemporaryFile() as ids:
        ids.write("".join(f"{blob}\n" for blob in blobs).encode("ascii"))
        ids.seek(0)
        out = runner.execute(["git", "cat-file", "--batch-check"], istream=ids, stdout_as_string=True)
    assert isinstance(out, str)
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "blob":
            sizes[parts[0]] = int(parts[2])
    return sizes


def _contents(runner: git.Git, blobs: list[str]) -> Iterator[tuple[str, bytes | None]]:
    """Each blob's bytes, in order, streamed from one `cat-file --batch` that reads the ids from a file
    (no round trip per blob); None for a blob git could not read. A corrupt object kills cat-file: the
    blob is given up and a new cat-file takes the rest."""
    pending = blobs
    while pending:
        done = 0
        with tempfile.TemporaryFile() as ids:
            ids.write("".join(f"{blob}\n" for blob in pending).encode("ascii"))
            ids.seek(0)
            process = runner.execute(["git", "cat-file", "--batch"], istream=ids, as_process=True)
            proc = process.proc
            assert proc is not None and proc.stdout is not None
            stdout = proc.stdout
            try:
                for blob in pending:
                    parts = stdout.readline().split()
                    if len(parts) != 3:
                        break  # "<id> missing" for an object that was there a moment ago, or cat-file died
                    size = int(parts[2])
                    data = stdout.read(size + 1)  # the content and a newline
                    if len(data) != size + 1:
                        break
                    done += 1
                    yield blob, data[:size]
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
        if done < len(pending):
            yield pending[done], None
        pending = pending[done + 1 :]


def _changes(runner: git.Git) -> tuple[int, list[_Change]]:
    """How many commits are reachable from a ref, and every (commit, path, old blob, new blob), oldest first."""
    raw = runner.execute(
        [
            "git", "log", "--all", "--date-order", "--reverse", "--raw", "--no-renames", "--no-abbrev", "-m",
            "--root", "--no-show-signature", "-z", "--format=%x01%H",
        ],
        stdout_as_string=False,
    )  # fmt: skip
    assert isinstance(raw, bytes)
    # With -z every field ends with NUL: "\x01<commit>", then per change "\n:<modes> <blobs> <status>" (the
    # newline only on the first) and the path. Read field by field: a path may hold any byte but NUL.
    commits: set[str] = set()
    changes: list[_Change] = []
    commit = ""
    fields = iter(raw.split(b"\0"))
    for item in fields:
        meta = item.lstrip(b"\n")
        if meta.startswith(b"\x01"):
            commit = meta[1:].strip().decode("ascii")
            commits.add(commit)
            continue
        if not meta.startswith(b":"):
            continue  # the empty field at the very end
        path = next(fields, b"")
        parts = meta.split()
        if len(parts) < 5 or _GITLINK in (parts[0][1:], parts[1]):
            continue
        changes.append(_Change(commit, path, parts[2].decode("ascii"), parts[3].decode("ascii")))
    return len(commits), changes


def _path_text(path: bytes) -> str:
    """A path as printable text: bytes that are not UTF-8 and characters that are not printable
    (control characters, bidirectional overrides) are written as backslash escapes."""
    text = path.decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _place(runner: git.Git, changes: list[_Change], by_blob: dict[str, list[Hit]]) -> Iterator[HistoryHit]:
    """For each secret and path: the commit that added it and the one that removed it."""
    holds: dict[str, set[str]] = {blob: {h.secret for h in hits} for blob, hits in by_blob.items()}
    added: dict[tuple[str, bytes], tuple[str, str]] = {}  # (secret, path) -> (commit, blob)
    removed: dict[tuple[str, bytes], str | None] = {}
    for change in changes:
        before = holds.get(change.old, set())
        after = holds.get(change.new, set())
        for secret in after - before:
            key = (secret, change.path)
            added.setdefault(key, (change.commit, change.new))
            removed[key] = None
        for secret in before - after:
            key = (secret, change.path)
            if key in added:
                removed[key] = change.commit
    # The log is one line through every branch: a removal on one does not take it out of another.
    taken_out = {key for key, commit in removed.items() if commit is not None}
    if taken_out:
        for key in _at_some_tip(runner, taken_out, holds):
            removed[key] = None
    for (secret, path), (commit, blob) in added.items():
        hit = next(h for h in by_blob[blob] if h.secret == secret)
        yield HistoryHit(hit, _path_text(path), blob, commit, removed.get((secret, path)))


def _at_some_tip(runner: git.Git, keys: set[tuple[str, bytes]], holds: dict[str, set[str]]) -> set[tuple[str, bytes]]:
    """Those (secret, path) pairs that the tree of some ref (or HEAD) still holds."""
    paths = {path for _, path in keys}
    trees = runner.execute(["git", "log", "--no-walk", "--all", "--no-show-signature", "--format=%T"])
    assert isinstance(trees, str)
    found: set[tuple[str, bytes]] = set()
    for tree in dict.fromkeys(trees.split()):
        listing = runner.execute(["git", "ls-tree", "-r", "-z", "--full-tree", tree], stdout_as_string=False)
        assert isinstance(listing, bytes)
        for entry in listing.split(b"\0"):
            meta, _, path = entry.partition(b"\t")
            parts = meta.split()
            if len(parts) != 3 or parts[1] != b"blob":
                continue
            if path in paths:
                found.update((secret, path) for secret in holds.get(parts[2].decode("ascii"), ()))
        if keys <= found:
            break
    return keys & found


def _partial(result: HistoryScan) -> str:
    return f"{result.blobs} blobs were scanned before it stopped" if result.blobs else "history not scanned"


def _first_line(text: str | None) -> str:
    """The first line of git's message (GitPython wraps it as `stderr: '...'`)."""
    lines = (text or "").strip().splitlines()
    if not lines:
        return ""
    line = lines[0].strip()
    if line.startswith("stderr: '"):
        line = line[len("stderr: '") :].removesuffix("'")
    return line
