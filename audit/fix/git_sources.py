"""Pinning git sources to the commit they had at the cut-off: the `git` resolver of `repro-audit fix`.

`commit_at` is the library function other resolvers call: the commit that was the head of a branch (or
the remote's default branch) at the cut-off, read from a bare repository kept in the fix cache and
fetched again on every use. "Head at the cut-off" is the newest commit reachable by first parent from
the branch whose committer date is before the cut-off: what `git rev-list -1 --first-parent
--before=...` answers. Only the branch asked for is fetched (a GitHub repository's pull-request refs
would cost more than its history). git runs through the ingest module's wrapper (GitPython, the
project's safe environment, refused transport helpers, a deadline that kills git's process group).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from audit.ingest.manifest import GitFailed, git_environment, git_transport, redact, run_git

COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
SHORT_COMMIT = re.compile(r"^[0-9a-fA-F]{7,39}$")


class GitResolveError(ValueError):
    """A commit that could not be found; the one-line message says what happened and what to do."""


@dataclass(frozen=True)
class ResolvedRef:
    commit: str  # 40 hex digits, lower case
    kind: str  # "commit" (given as such), "branch", "default" (the remote's default branch), "tag"
    name: str | None  # the branch or tag name (the default branch's name too)
    committed: datetime | None  # the commit's committer date (UTC); None for a commit given as such


def commit_at(url: str, ref: str | None, cutoff: datetime, cache_dir: Path, timeout: float) -> str:
    """The 40-hex commit that was the head of branch `ref` (None: the remote's default branch) at `cutoff`.

    A tag gives the tag's commit; a 40-hex `ref` is returned as it is, without touching the network.
    The repository is kept bare under `cache_dir/git/` and fetched again when it is there already.
    Raises `GitResolveError` (one line: what happened, what to do)."""
    return resolve_ref(url, ref, cutoff, cache_dir, timeout).commit


def resolve_ref(url: str, ref: str | None, cutoff: datetime, cache_dir: Path, timeout: float) -> ResolvedRef:
    """`commit_at`, saying also what `ref` turned out to be (a branch, a tag, ...) and the commit's date."""
    if ref is not None and COMMIT.match(ref):
        return ResolvedRef(ref.lower(), "commit", None, None)
    if cutoff.tzinfo is None:
        raise GitResolveError("the cut-off has no time zone: give it in UTC")
    shown = redact(url)
    deadline = time.monotonic() + timeout
    try:
        protocol = git_transport(url)
    except GitFailed as exc:
        raise GitResolveError(f"cannot fetch {shown}: {exc}; give a https, ssh, git or file URL") from None
    env = git_environment(protocol)
    repo = cache_dir / "git" / hashlib.sha256(url.encode()).hexdigest()[:24]
    try:
        with _locked(repo, deadline, timeout):
            return _resolve(url, ref, cutoff, repo, env, deadline, timeout)
    except GitFailed as exc:
        message = str(exc)
        if message.startswith("timed out"):
            raise GitResolveError(
                f"{shown}: {message} while fetching; try again with a longer timeout, or pin the commit by hand"
            ) from None
        raise GitResolveError(
            f"cannot read {shown}: {message}; check the URL and the network, or pin the commit by hand"
        ) from None


def _resolve(
    url: str, ref: str | None, cutoff: datetime, repo: Path, env: dict[str, str], deadline: float, timeout: float
) -> ResolvedRef:
    shown = redact(url)
    _init_bare(repo, env, deadline, timeout)
    env = {**env, "GIT_DIR": os.fspath(repo), "GIT_OBJECT_DIRECTORY": os.fspath(repo / "objects")}
    env["GIT_COMMON_DIR"] = os.fspath(repo)
    # What the remote offers under that name, before fetching: a branch wins over a tag, as in `git clone -b`.
    if ref is None:
        listed = run_git(["ls-remote", "--symref", "--", url, "HEAD"], repo, env, deadline, timeout)
        match = re.search(r"^ref: refs/heads/(\S+)\tHEAD$", listed, re.MULTILINE)
        if match is None:
            raise GitResolveError(
                f"{shown} names no default branch (an empty repository, or its HEAD is detached); "
                "give the branch to pin"
            )
        kind, name, remote_ref = "default", match[1], f"refs/heads/{match[1]}"
    else:
        name = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        listed = run_git(
            ["ls-remote", "--", url, f"refs/heads/{name}", f"refs/tags/{name}"], repo, env, deadline, timeout
        )
        offered = {line.split("\t", 1)[1] for line in listed.splitlines() if "\t" in line}
        if f"refs/heads/{name}" in offered and not ref.startswith("refs/tags/"):
            kind, remote_ref = "branch", f"refs/heads/{name}"
        elif f"refs/tags/{name}" in offered:
            kind, remote_ref = "tag", f"refs/tags/{name}"
        elif SHORT_COMMIT.match(ref):
            return _short_commit(url, ref, repo, env, deadline, timeout)
        else:
            raise GitResolveError(
                f"{shown} has no branch or tag {name!r}; check the name (it may have been deleted or renamed)"
            )
    # Only that ref, forced: a branch that was rewritten upstream replaces the cached one.
    run_git(["fetch", "--quiet", "--no-tags", "--", url, f"+{remote_ref}:{remote_ref}"], repo, env, deadline, timeout)
    if kind == "tag":
        commit = run_git(["rev-parse", "--verify", f"{remote_ref}^{{commit}}"], repo, env, deadline, timeout)
    else:
        # git's --before keeps commits at or before the second given; the cut-off itself is excluded
        last_second = -int(-cutoff.timestamp() // 1) - 1
        commit = run_git(
            ["rev-list", "-1", "--first-parent", f"--before=@{last_second}", remote_ref, "--"],
            repo,
            env,
            deadline,
            timeout,
        )
        if not commit:
            raise GitResolveError(
                f"branch {name!r} of {shown} has no commit before {cutoff.isoformat()} (it was made later); "
                "give an older branch or a later --as-of, or pin the commit by hand"
            )
    return ResolvedRef(commit.lower(), kind, name, _committed(commit, repo, env, deadline, timeout))


def _short_commit(url: str, ref: str, repo: Path, env: dict[str, str], deadline: float, timeout: float) -> ResolvedRef:
    """An abbreviated commit id (pip accepts them): the full id, looked up in the default branch's history."""
    run_git(["fetch", "--quiet", "--no-tags", "--", url, "+HEAD:refs/repro-audit/head"], repo, env, deadline, timeout)
    try:
        commit = run_git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], repo, env, deadline, timeout)
    except GitFailed:
        commit = ""
    if not commit:
        raise GitResolveError(
            f"{redact(url)} has no branch, tag or default-branch commit {ref!r}; give the full 40-hex commit"
        )
    return ResolvedRef(commit.lower(), "commit", ref, _committed(commit, repo, env, deadline, timeout))


def _committed(commit: str, repo: Path, env: dict[str, str], deadline: float, timeout: float) -> datetime:
    seconds = run_git(["show", "-s", "--format=%ct", commit, "--"], repo, env, deadline, timeout)
    return datetime.fromtimestamp(int(seconds), UTC)


def _init_bare(repo: Path, env: dict[str, str], deadline: float, timeout: float) -> None:
    """An empty bare repository at `repo` unless one is there; made beside it and renamed into place, so a
    folder at `repo` is always a repository (an interrupted run leaves a partial folder, removed here)."""
    if (repo / "HEAD").is_file():
        return
    repo.parent.mkdir(parents=True, exist_ok=True)
    partial = repo.with_name(f"{repo.name}.partial-{os.urandom(6).hex()}")
    for stale in repo.parent.glob(f"{repo.name}.partial-*"):
        _remove(stale)
    if repo.exists():
        _remove(repo)  # not a repository: left by something else, rebuilt
    try:
        init_env = {**env, "GIT_DIR": os.fspath(partial)}
        run_git(["init", "--quiet", "--bare", os.fspath(partial)], repo.parent, init_env, deadline, timeout)
        os.rename(partial, repo)
    finally:
        if partial.exists():
            _remove(partial)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _locked(repo: Path, deadline: float, timeout: float) -> Iterator[None]:
    """One process at a time per cached repository: two fetches into one bare repository race on its refs."""
    repo.parent.mkdir(parents=True, exist_ok=True)
    with open(repo.with_name(repo.name + ".lock"), "a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise GitFailed(f"timed out after {timeout:g} s (another process holds the cache)") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
