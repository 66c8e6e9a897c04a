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
import shlex
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from audit.fix.model import Change, Edit, FixSettings, Note, Progress, Resolves
from audit.fix.text import SourceText, Span
from audit.ingest.manifest import GitFailed, git_environment, git_transport, redact, run_git
from audit.rules.fetches import GIT_VALUE_OPTIONS, Clone, clones
from audit.views.entry import EntryView
from audit.views.requirements import Pin

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
    except OSError as exc:
        raise GitResolveError(
            f"cannot keep a copy of {shown} in {cache_dir} ({exc.strerror or type(exc).__name__}); "
            "give a cache folder that can be written"
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


# ---------------------------------------------------------------------------------------------------------
# The resolver

# `git clone` options that leave older commits out of the clone: a checkout of the commit at the cut-off
# would fail. Dropped (with a caveat); the clone then takes the whole history.
SHALLOW_VALUE_OPTIONS = frozenset({"--depth", "--shallow-since", "--shallow-exclude"})
SHALLOW_FLAGS = frozenset({"--single-branch", "--shallow-submodules"})
SUBMODULE_FLAGS = ("--recursive", "--recurse-submodules")
NO_WORK_TREE = frozenset({"--bare", "--mirror"})
CLONE_VALUE_OPTIONS = GIT_VALUE_OPTIONS | {"--shallow-exclude", "--bundle-uri", "--server-option"}


@dataclass(frozen=True)
class _Word:
    text: str  # the word as the shell gives it
    span: Span  # its characters in the file, quotes included


class GitSources:
    """Pins `git clone`s of Dockerfile RUNs (RA401) and git requirements of dependency files (RA302) to the
    commit their branch had at the cut-off. `pip install git+URL` in a RUN belongs to the Python resolver,
    and clones of Hub repositories (RA405) to the Hub resolver."""

    kind: ClassVar[str] = "git"

    def propose(self, view: EntryView, settings: FixSettings, progress: Progress) -> Iterator[Change | Note]:
        memo: dict[tuple[str, str | None], ResolvedRef | GitResolveError] = {}

        def resolve(url: str, ref: str | None) -> ResolvedRef:
            key = (url, ref)
            if key not in memo:
                progress(f"resolving the commit of {redact(url)} at {settings.cutoff.isoformat()}")
                try:
                    memo[key] = resolve_ref(url, ref, settings.cutoff, settings.cache_dir, settings.timeout)
                except GitResolveError as exc:
                    memo[key] = exc
            found = memo[key]
            if isinstance(found, GitResolveError):
                raise found
            return found

        yield from self._clones(view, settings, resolve)
        yield from self._requirements(view, settings, resolve)

    # ---- Dockerfile clones ----------------------------------------------------------------------------

    def _clones(self, view: EntryView, settings: FixSettings, resolve: _Resolve) -> Iterator[Change | Note]:
        done: set[str] = set()
        for target, dockerfile in view.dockerfiles():
            path = target.target.dockerfile
            read = view.tree.read_text(path)
            if path in done or read is None:
                continue  # two targets may build from one Dockerfile: one change for it
            done.add(path)
            source = SourceText(path, read.text)
            for clone in clones(dockerfile):
                if clone.pinned or "huggingface.co" in clone.url:
                    continue  # pinned already; Hub repositories are the Hub resolver's (RA405)
                line = clone.step.instruction.line_of(clone.url)  # where RA401 puts its finding
                try:
                    yield self._clone_change(source, clone, line, settings, resolve)
                except _CannotPin as exc:
                    yield Note(self.kind, path, line, f"git clone of {redact(clone.url)} not pinned: {exc}")

    def _clone_change(
        self, source: SourceText, clone: Clone, line: int, settings: FixSettings, resolve: _Resolve
    ) -> Change:
        if "$" in clone.url or (clone.branch and "$" in clone.branch):
            raise _CannotPin("its URL or branch comes from a variable; check out the commit by hand")
        argv = clone.command.argv
        words = self._words(source, clone)
        start = argv.index("clone") + 1
        keep = [True] * len(argv)
        dropped: list[str] = []
        positional: list[int] = []
        submodules = False
        index = start
        while index < len(argv):
            word = argv[index]
            name = word.split("=", 1)[0]
            if word in NO_WORK_TREE:
                raise _CannotPin(f"a {word} clone has no working tree to check a commit out in")
            if name in SHALLOW_VALUE_OPTIONS or word in SHALLOW_FLAGS:
                takes_value = name in SHALLOW_VALUE_OPTIONS and "=" not in word
                dropped.append(" ".join(argv[index : index + 1 + takes_value]))
                keep[index] = False
                if takes_value and index + 1 < len(argv):
                    keep[index + 1] = False
                    index += 1
            elif name in SUBMODULE_FLAGS:
                submodules = True
            elif word in CLONE_VALUE_OPTIONS:
                index += 1  # its value is not a URL or folder
            elif word == "--":
                positional.extend(range(index + 1, len(argv)))
                break
            elif not word.startswith("-"):
                positional.append(index)
            index += 1
        if not positional or argv[positional[0]] != clone.url:
            raise _CannotPin("its command line could not be read back (an option this resolver does not know?)")
        try:
            resolved = resolve(clone.url, clone.branch)
        except GitResolveError as exc:
            raise _CannotPin(str(exc)) from None

        text = source.text
        url_at = positional[0]
        folder = words[positional[1]].span if len(positional) > 1 else None
        folder_text = text[folder.start : folder.end] if folder else shlex.quote(default_folder(clone.url))
        pieces = [text[words[0].span.start : words[0].span.end]]
        for number in range(1, len(words)):
            if keep[number]:
                # the separator before a dropped word goes with it; the one before a kept word stays
                pieces.append(text[words[number - 1].span.end : words[number].span.end])
            if number == url_at and folder is None:
                pieces.append(f" {folder_text}")
        pieces.append(f" && git -C {folder_text} checkout {resolved.commit}")
        if submodules:
            pieces.append(f" && git -C {folder_text} submodule update --init --recursive")
        edit = Edit(source.path, words[0].span.start, words[-1].span.end, "".join(pieces))

        caveats = []
        if dropped:
            caveats.append(
                f"dropped {', '.join(dropped)}: a shallow or single-branch clone may not hold the commit at the "
                "cut-off, so the clone now takes the whole history"
            )
        caveats.extend(_ref_caveats(resolved, settings))
        return Change(
            self.kind,
            f"git clone of {redact(clone.url)} checked out at {resolved.commit[:12]} ({_described(resolved, settings)})",
            edits=(edit,),
            resolves=(Resolves("RA401", source.path, line),),
            caveats=tuple(caveats),
        )

    def _words(self, source: SourceText, clone: Clone) -> list[_Word]:
        """Each word of the clone command with its characters in the file, in order."""
        span = source.command_span(clone.step.instruction, clone.command)
        if span is None:
            raise _CannotPin("its text could not be found in the file (a command built by the shell, a heredoc?)")
        found, at = [], span.start
        for word in clone.command.argv:
            where = source.word_span(word, Span(at, span.end))
            if where is None:
                raise _CannotPin("its text could not be found in the file")
            found.append(_Word(word, where))
            at = where.end
        return found

    # ---- requirement files ----------------------------------------------------------------------------

    def _requirements(self, view: EntryView, settings: FixSettings, resolve: _Resolve) -> Iterator[Change | Note]:
        for reached in view.dependency_files:
            read = view.tree.read_text(reached.path)
            if read is None:
                continue
            source = SourceText(reached.path, read.text)
            for requirement in reached.parsed.requirements:
                if requirement.graded.pin is not Pin.VCS_MUTABLE:
                    continue
                line = requirement.line
                try:
                    yield self._requirement_change(source, requirement.graded.text, line, settings, resolve)
                except _CannotPin as exc:
                    yield Note(self.kind, reached.path, line, f"{redact(requirement.graded.text)} not pinned: {exc}")

    def _requirement_change(
        self, source: SourceText, url: str, line: int, settings: FixSettings, resolve: _Resolve
    ) -> Change:
        if not url.startswith("git+"):
            raise _CannotPin("only git repositories are resolved; pin the revision by hand")
        if "$" in url:
            raise _CannotPin("the URL comes from a variable; pin the commit by hand")
        parts = split_vcs_url(url)
        if parts is None:
            raise _CannotPin("the URL cannot be read (give it as git+https://host/path.git@<commit>)")
        clone_url, ref, ref_start, ref_end = parts
        at = _find_on_logical_line(source, url, line)
        if at is None:
            raise _CannotPin("its text could not be found on its line")
        try:
            resolved = resolve(clone_url, ref)
        except GitResolveError as exc:
            raise _CannotPin(str(exc)) from None
        edit = Edit(source.path, at + ref_start, at + ref_end, f"@{resolved.commit}")
        return Change(
            self.kind,
            f"{redact(clone_url)} pinned to {resolved.commit[:12]} ({_described(resolved, settings)}) in {source.path}",
            edits=(edit,),
            resolves=(Resolves("RA302", source.path, line),),
            caveats=tuple(_ref_caveats(resolved, settings)),
        )


class _CannotPin(Exception):
    """Why one clone or requirement is left as it is: becomes a Note."""


_Resolve = Callable[[str, "str | None"], ResolvedRef]


def default_folder(url: str) -> str:
    """The folder `git clone URL` creates: the URL's last path part without `.git` (`/.git` and trailing
    slashes ignored, as git does)."""
    path = url.rstrip("/").removesuffix("/.git").rstrip("/")
    name = re.split(r"[/:]", path)[-1]
    return name.removesuffix(".git").removesuffix(".bundle") or name


def split_vcs_url(url: str) -> tuple[str, str | None, int, int] | None:
    """A pip `git+` URL read as (URL to clone, ref or None, where `@ref` starts, where it ends) in `url`;
    with no ref, both offsets are where `@<commit>` goes. None when it is not `git+scheme://...`."""
    body_start = len("git+")
    location = url.split("#", 1)[0]
    body = location[body_start:]
    scheme, separator, rest = body.partition("://")
    if not separator or not scheme:
        return None
    host_end = len(scheme) + 3 + (rest.find("/") if "/" in rest else len(rest))
    path_end = body.find("?", host_end)
    path_end = len(body) if path_end < 0 else path_end
    path = body[host_end:path_end]
    at = path.rfind("@")
    if at < 0:
        return body[:path_end], None, body_start + path_end, body_start + path_end
    ref = path[at + 1 :]
    return body[: host_end + at], ref or None, body_start + host_end + at, body_start + path_end


def _find_on_logical_line(source: SourceText, needle: str, line: int) -> int | None:
    """Where `needle` starts on `line` or the lines a trailing backslash joins to it."""
    last = line
    while last < len(source.line_starts) and source.text[: source.offset(last + 1)].rstrip("\r\n").endswith("\\"):
        last += 1
    span = source.lines_span(line, last)
    found = source.text.find(needle, span.start, span.end)
    return None if found < 0 else found


def _described(resolved: ResolvedRef, settings: FixSettings) -> str:
    if resolved.kind == "tag":
        return f"tag {resolved.name}"
    if resolved.kind == "commit":
        return f"commit {resolved.name}"
    which = "the default branch" if resolved.kind == "default" else "branch"
    return f"the head of {which} {resolved.name} at {settings.cutoff.isoformat()}"


def _ref_caveats(resolved: ResolvedRef, settings: FixSettings) -> list[str]:
    if resolved.kind != "tag":
        return []
    caveats = [f"{resolved.name!r} is a tag: tags can be moved; this is the commit it names today"]
    if resolved.committed is not None and resolved.committed >= settings.cutoff:
        caveats.append(
            f"tag {resolved.name!r} names a commit made after the cut-off ({resolved.committed.isoformat()}): "
            "it was moved or made later; check which commit the entry was built with"
        )
    return caveats
