"""Manifests of git URLs, and cloning the repositories they name: the manifest source of `repro-audit run`.

A manifest is the organizers' form export: a `.tsv` or `.csv` file with a header row, a `track` column and
a git URL column (`git_https`, or `url`), optionally `commit` and `name`; other columns (`git_ssh`, the
form's own) are ignored. Exports are messy, so reading is lenient where the meaning is plain: a byte order
mark, UTF-16 (Excel's "Unicode text") or Windows-1252 text, CRLF, blank lines, spaces around values, a
`.csv` that is really tab separated, tracks written `A100`, `a100-40GB`, `4090` or `RTX 4090`, URLs with
or without `.git`, trailing slashes, `http://`, `www.`, no scheme at all (`github.com/user/repo`), or
pointing into the repository (`/tree/<branch>`, `/blob/...`; `/tree/<commit>` and `/commit/<commit>` pin
that commit). Every GitHub URL becomes `https://github.com/<user>/<repo>` (GitHub serves neither `git://`
nor ssh without keys); a local path becomes a `file://` URL, resolved from the manifest's folder. Each row
that cannot be used becomes a `ManifestProblem` (its line and why), never an exception; only a file that
cannot be a manifest at all (unreadable, no header with the two columns) raises `ManifestError`. Two rows
with the same name are both kept: making names unique (and saying so) is the runner's job.

Cloning runs git through GitPython with the project's safe environment (no system or user configuration,
so no credential helper, `core.hooksPath`, `core.fsmonitor` or filter driver of the machine's runs; no
hook templates; no prompt for a password or an ssh key's passphrase: git runs in its own session, with
no terminal to ask on). Transports are limited to file, https, http, ssh and git; `ext::` and the other
transport helpers are refused. A submodule may use `file` only when the repository itself came from a
local path, so a remote repository's `.gitmodules` cannot make the audit copy a folder of the auditing
machine. Submodules are cloned recursively; one that cannot be cloned fails the whole clone (the
submission cannot be rebuilt as given). Git LFS files stay pointers (its filter is machine configuration).

The clone is made in a hidden sibling folder (`.<name>.partial-*`) and renamed into place only when
complete, so a folder at the destination is always a finished clone (one left by a killed run is removed
by the next clone to the same destination); a timeout kills git's whole process group. Written by hand:
no library parses these exports, and GitPython's `clone_from` has no timeout (it streams progress).
"""

from __future__ import annotations

import codecs
import csv
import glob
import io
import os
import re
import shutil
import subprocess
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import git
from git.exc import GitCommandNotFound, GitError

from audit.process import kill_group
from audit.secrets.history import SAFE_GIT_ENV

Track = Literal["A100", "4090"]

URL_COLUMNS = ("git_https", "url")  # in order of preference, row by row
_MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_COMMIT = re.compile(r"[0-9a-f]{4,64}")
_SCHEMES = frozenset({"file", "https", "http", "ssh", "git"})
_SCHEME_ALIASES = {"git+ssh": "ssh", "ssh+git": "ssh"}  # git accepts both spellings
_TRANSPORT_HELPER = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)::")  # `ext::sh -c ...`, `fd::3`
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^\s]*)$")  # git@github.com:u/r.git
_BARE_HOST = re.compile(r"^(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}$")  # `github.com/u/r`, no scheme
_GITHUB_HOSTS = {"github.com", "www.github.com"}
_GITHUB_COMMIT_PATH = {"tree", "commit"}  # /tree/<sha>, /commit/<sha> name a commit
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"  # zero-width characters that `str.strip` keeps


@dataclass(frozen=True)
class ManifestRow:
    line: int  # 1-based line in the file
    track: str  # "A100" or "4090"
    url: str  # as normalised for cloning
    commit: str | None  # lower-case hex, possibly abbreviated
    name: str  # "<track>/<user>/<repo>"


@dataclass(frozen=True)
class ManifestProblem:
    """A row that was not used, and why (one line, for people)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ManifestError(Exception):
    """The file as a whole cannot be used as a manifest."""


class _BadRow(Exception):
    """Why a row is not used; becomes a `ManifestProblem`, never leaves this module."""


# ---------------------------------------------------------------------------------------------------------
# Reading a manifest


def read_manifest(path: Path) -> tuple[list[ManifestRow], list[ManifestProblem]]:
    """The usable rows of a manifest, and a problem for each row that is not; rows in file order."""
    text = _read_text(path)
    lines = io.StringIO(text, newline="")  # keeps CR, LF and CRLF endings for csv, which wants them
    header_line, header_text = _first_nonblank_line(lines)
    if header_text is None:
        raise ManifestError(f"{path}: the manifest is empty")
    delimiter, columns = _header(path, header_text)
    lines.seek(0)
    reader = csv.reader(lines, delimiter=delimiter)
    rows: list[ManifestRow] = []
    problems: list[ManifestProblem] = []
    base = path.parent.absolute()
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(ManifestProblem(start, f"not readable as {_format_name(delimiter)}: {exc}"))
            continue
        if start <= header_line or not any(_clean(cell) for cell in cells):
            continue  # the header, a blank line, or a line of empty cells (spreadsheets pad with them)
        try:
            rows.append(_row(cells, columns, start, reader.line_num, base))
        except _BadRow as exc:
            problems.append(ManifestProblem(start, str(exc)))
    return rows, problems


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > _MAX_MANIFEST_BYTES:
            raise ManifestError(f"{path}: {size // (1024 * 1024)} MiB is too large for a manifest")
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc.strerror or type(exc).__name__})") from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")  # Excel's "Unicode text": UTF-16, tab separated
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows


def _first_nonblank_line(lines: io.StringIO) -> tuple[int, str | None]:
    for number, line in enumerate(lines, start=1):
        if line.strip(" \t\r\n,;" + _INVISIBLE):
            return number, line
    return 0, None


def _header(path: Path, line: str) -> tuple[str, dict[str, int]]:
    """The delimiter and the columns used (name -> index), from the header line."""
    # The file's extension says what it should be; exports often say something else (a `.csv` of tabs).
    candidates = ("\t", ",", ";") if path.suffix.lower() == ".tsv" else (",", "\t", ";")
    best: dict[str, int] = {}
    for delimiter in candidates:
        cells = next(csv.reader([line], delimiter=delimiter), [])
        columns: dict[str, int] = {}
        for index, cell in enumerate(cells):
            columns.setdefault(_column_name(cell), index)  # a repeated column: the first one counts
        if "track" in columns and any(name in columns for name in URL_COLUMNS):
            return delimiter, columns
        if len(columns) > len(best):
            best = columns
    found = ", ".join(f"`{name}`" for name in best if name) or "nothing"
    missing = []
    if "track" not in best:
        missing.append("a `track` column")
    if not any(name in best for name in URL_COLUMNS):
        hint = " (`git_ssh` is not used: ssh needs keys)" if "git_ssh" in best else ""
        missing.append(f"a git URL column (`git_https` or `url`){hint}")
    raise ManifestError(
        f"{path}: the first line is not a header with {' and '.join(missing)}; it has {_shorten(found, 200)}"
    )


def _column_name(cell: str) -> str:
    return re.sub(r"[\s-]+", "_", _clean(cell).lower())


def _clean(cell: str) -> str:
    return cell.strip().strip(_INVISIBLE).strip()


def _format_name(delimiter: str) -> str:
    return {"\t": "TSV", ",": "CSV", ";": "CSV (;)"}[delimiter]


def _row(cells: list[str], columns: dict[str, int], line: int, last_line: int, base: Path) -> ManifestRow:
    def cell(name: str) -> str:
        index = columns.get(name)
        value = _clean(cells[index]) if index is not None and index < len(cells) else ""
        if "\n" in value or "\r" in value:
            raise _BadRow(f"the `{name}` value runs over lines {line}-{last_line} (an unclosed quote?)")
        if "\ufffd" in value:
            raise _BadRow(f"the `{name}` value is not readable text (the file mixes encodings?)")
        return value

    raw_track = cell("track")
    if not raw_track:
        raise _BadRow("no track")
    track = normalise_track(raw_track)
    if track is None:
        raise _BadRow(f"unknown track {_quoted(raw_track)} (expected A100 or 4090)")
    raw_url = next((value for value in map(cell, URL_COLUMNS) if value), "")
    if not raw_url:
        raise _BadRow("no git URL (the `git_https` or `url` column is empty)")
    url, derived, url_commit = _normalise_url(raw_url, base)
    commit = _commit(cell("commit"), url_commit)
    name = cell("name")
    user, repo = _name_parts(name, track) if name else (derived or _no_name(url))
    return ManifestRow(line, track, url, commit, f"{track}/{user}/{repo}")


def normalise_track(text: str) -> Track | None:
    """`A100` or `4090` from how people write them (`a100-40GB`, `NVIDIA A100`, `RTX 4090`), else None."""
    tokens = re.findall(r"[a-z]+|[0-9]+", text.lower())  # `a100-40gb` -> a, 100, 40, gb; `a1000` stays apart
    a100 = any(tokens[i : i + 2] == ["a", "100"] for i in range(len(tokens)))
    rtx4090 = "4090" in tokens
    if a100 == rtx4090:
        return None  # neither, or both at once
    return "A100" if a100 else "4090"


def _commit(value: str, from_url: str | None) -> str | None:
    commit = value.lower() or None
    if commit is not None and not _COMMIT.fullmatch(commit):
        raise _BadRow(f"commit {_quoted(value)} is not a commit id (4 to 40 hexadecimal digits)")
    if commit is not None and from_url is not None and not from_url.startswith(commit):
        raise _BadRow(f"the `commit` column ({commit}) and the URL's commit ({from_url}) differ")
    return from_url or commit  # the URL's is the full id


def _normalise_url(raw: str, base: Path) -> tuple[str, tuple[str, str] | None, str | None]:
    """The URL to clone, the `(user, repo)` it names (None if it cannot tell), and the commit it pins."""
    if raw.startswith("-"):
        raise _BadRow(f"{_quoted(raw)} is not a URL (it would read as an option of git)")
    helper = _TRANSPORT_HELPER.match(raw)
    if helper:
        raise _BadRow(f"transport `{helper[1]}::` is refused (only file, https, http, ssh and git URLs)")
    scheme_match = _URL_SCHEME.match(raw)
    if scheme_match:
        scheme = scheme_match[1].lower()
        scheme = _SCHEME_ALIASES.get(scheme, scheme)
        if scheme not in _SCHEMES:
            raise _BadRow(f"URL scheme `{scheme}` is not supported (file, https, http, ssh, git)")
        if scheme == "file":
            return _file_url(raw)
        return _network_url(scheme, raw)
    scp = _SCP_LIKE.match(raw)
    if scp and "/" not in raw.split(":", 1)[0]:
        return _network_url("ssh", f"ssh://{raw.split(':', 1)[0]}/{scp['path'].lstrip('/')}")
    first = raw.split("/", 1)[0].lower()
    if _BARE_HOST.match(first) and "/" in raw and not _exists(base / raw):
        return _network_url("https", f"https://{raw}")
    return _local_path(Path(raw).expanduser() if raw.startswith("~") else base / raw)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def _file_url(raw: str) -> tuple[str, tuple[str, str] | None, str | None]:
    parts = urlsplit(raw)
    if parts.netloc not in ("", "localhost"):
        raise _BadRow(f"file URL {_quoted(raw)} names a host; only local files can be read")
    return _local_path(Path(unquote(parts.path)))


def _local_path(path: Path) -> tuple[str, tuple[str, str] | None, str | None]:
    if "\0" in str(path):
        raise _BadRow("the path holds a NUL character")
    resolved = Path(os.path.normpath(path.absolute()))
    names = [part for part in resolved.parts[1:] if part]
    if names and names[-1] == ".git":
        names.pop()  # `/srv/user/repo/.git` names the repository `repo`
    named = (names[-2], _strip_git(names[-1])) if len(names) >= 2 else None
    return resolved.as_uri(), named, None


def _network_url(scheme: str, raw: str) -> tuple[str, tuple[str, str] | None, str | None]:
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in raw):
        raise _BadRow(f"URL {_quoted(raw)} holds spaces or control characters")
    try:
        parts = urlsplit(raw)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError as exc:
        raise _BadRow(f"URL {_quoted(raw)} is malformed ({exc})") from exc
    if not host:
        raise _BadRow(f"URL {_quoted(raw)} names no host")
    if parts.password:
        # never echoed: it is a credential
        raise _BadRow("URL holds a password or token; give a URL that clones without credentials")
    if host in _GITHUB_HOSTS:
        return _github_url([unquote(segment) for segment in parts.path.split("/") if segment], raw)
    path = re.split(r"/-(?:/|$)", parts.path, maxsplit=1)[0].rstrip("/")  # GitLab: `/group/repo/-/tree/main`
    segments = [unquote(segment) for segment in path.split("/") if segment]
    netloc = host if port is None else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    url = urlunsplit((scheme, netloc, path, parts.query, ""))
    named = (segments[-2], _strip_git(segments[-1])) if len(segments) >= 2 else None
    return url, named, None


def _github_url(segments: list[str], raw: str) -> tuple[str, tuple[str, str] | None, str | None]:
    if len(segments) < 2:
        raise _BadRow(f"GitHub URL {_quoted(raw)} names no repository (expected github.com/<user>/<repo>)")
    user, repo = segments[0], _strip_git(segments[1])
    commit = None
    if len(segments) >= 4 and segments[2] in _GITHUB_COMMIT_PATH and re.fullmatch(r"[0-9a-fA-F]{40}", segments[3]):
        commit = segments[3].lower()  # the URL of a commit, or of the tree at a commit
    return f"https://github.com/{user}/{repo}", (user, repo), commit


def _strip_git(name: str) -> str:
    stripped = name.removesuffix(".git")
    return stripped or name


def _name_parts(value: str, track: str) -> tuple[str, str]:
    parts = [_safe_part(_clean(part), value) for part in re.split(r"[/\\]", value) if _clean(part)]
    if len(parts) == 3:
        if normalise_track(parts[0]) != track:
            raise _BadRow(f"name {_quoted(value)} starts with another track than the row's ({track})")
        parts = parts[1:]
    if len(parts) != 2:
        raise _BadRow(f"name {_quoted(value)} is not `<user>/<repo>` or `<track>/<user>/<repo>`")
    return parts[0], parts[1]


def _no_name(url: str) -> tuple[str, str]:
    raise _BadRow(f"cannot tell `<user>/<repo>` from {_quoted(url)}: give it in a `name` column")


def _safe_part(part: str, whole: str) -> str:
    """A part of an entry name, which becomes a folder name: never `..`, never a control character."""
    if part in (".", "..") or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in part):
        raise _BadRow(f"name {_quoted(whole)} cannot be a folder name")
    return part


def _quoted(text: str) -> str:
    return repr(_shorten(text, 120))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------------------
# Cloning


@dataclass(frozen=True)
class Clone:
    path: Path | None  # the finished clone, None on failure
    commit: str | None  # the commit checked out (full id)
    pinned: bool  # the manifest gave the commit
    error: str | None  # one line, for people


class _CloneFailed(Exception):
    """Why a clone failed, one line for people."""


def clone(row: ManifestRow, destination: Path, timeout: float = 600) -> Clone:
    """Clone the row's repository (and its submodules, recursively) into `destination`, which must not
    exist yet, at the row's commit or else at the head of the default branch. Failures are values."""
    pinned = row.commit is not None
    try:
        commit = _clone(row, destination, timeout)
    except _CloneFailed as exc:
        message = " ".join(f"clone of {redact(row.url)} failed: {exc}".splitlines())
        return Clone(None, None, pinned, message)
    return Clone(destination, commit, pinned, None)


def _clone(row: ManifestRow, destination: Path, timeout: float) -> str:
    protocol = _protocol(row.url)
    if row.commit is not None and not _COMMIT.fullmatch(row.commit):
        raise _CloneFailed(f"{row.commit!r} is not a commit id")
    if destination.exists() or destination.is_symlink():
        raise _CloneFailed(f"{destination} already exists: not cloned over it")
    deadline = time.monotonic() + timeout
    partial = _partial_folder(destination)
    try:
        commit = _clone_into(partial, row.url, row.commit, protocol, deadline, timeout)
        if destination.exists() or destination.is_symlink():
            raise _CloneFailed(f"{destination} appeared while cloning: not replaced")
        try:
            os.rename(partial, destination)
        except OSError as exc:
            raise _CloneFailed(f"cannot move the clone into place ({exc.strerror})") from exc
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return commit


def _partial_folder(destination: Path) -> Path:
    """A new path beside the destination, named as unfinished, for git to create; the partial folders a
    killed run left for the same destination are removed."""
    parent = destination.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for stale in parent.glob(f".{glob.escape(destination.name)}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)
    except OSError as exc:
        raise _CloneFailed(f"cannot write in {parent} ({exc.strerror})") from exc
    return parent / f".{destination.name}.partial-{os.urandom(6).hex()}"


def _protocol(url: str) -> str:
    """The transport git will use for the URL itself, or why the URL is refused."""
    if url.startswith("-"):
        raise _CloneFailed("the URL would read as an option of git: refused")
    helper = _TRANSPORT_HELPER.match(url)
    if helper:
        raise _CloneFailed(f"transport `{helper[1]}::` is refused (only file, https, http, ssh and git URLs)")
    scheme = _URL_SCHEME.match(url)
    if scheme:
        name = scheme[1].lower()
        name = _SCHEME_ALIASES.get(name, name)
        if name not in _SCHEMES:
            raise _CloneFailed(f"URL scheme `{name}` is not supported (file, https, http, ssh, git)")
        return name
    if url.startswith("/"):
        return "file"
    if _SCP_LIKE.match(url) and "/" not in url.split(":", 1)[0]:
        return "ssh"
    raise _CloneFailed("a relative path or an unknown kind of URL: refused")


def _clone_env(protocol: str) -> dict[str, str]:
    env = dict(SAFE_GIT_ENV)
    count = int(env["GIT_CONFIG_COUNT"])
    for key, value in (
        ("credential.helper", ""),  # an empty value clears the list: no helper runs, none stores anything
        ("core.hooksPath", "/nonexistent/repro-audit/hooks"),
        ("advice.detachedHead", "false"),
    ):
        env[f"GIT_CONFIG_KEY_{count}"] = key
        env[f"GIT_CONFIG_VALUE_{count}"] = value
        count += 1
    env["GIT_CONFIG_COUNT"] = str(count)
    # Submodules inherit the list: a remote repository may not make us copy a local folder.
    env["GIT_ALLOW_PROTOCOL"] = "https:http:ssh:git" + (":file" if protocol == "file" else "")
    env["GIT_TEMPLATE_DIR"] = ""  # no template: no hooks, not even the samples
    env["GIT_ASKPASS"] = ""  # set but empty: git asks no program...
    env["SSH_ASKPASS"] = ""
    env["GIT_TERMINAL_PROMPT"] = "0"  # ...and not the terminal
    if "GIT_SSH_COMMAND" not in os.environ and "GIT_SSH" not in os.environ:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    return env


def _clone_into(partial: Path, url: str, commit: str | None, protocol: str, deadline: float, timeout: float) -> str:
    git_dir = partial / ".git"
    env = {
        **_clone_env(protocol),
        # Named, not found or inherited: a GIT_DIR, GIT_INDEX_FILE or GIT_OBJECT_DIRECTORY in the audit's
        # own environment (it may run from a git hook) would send git's writes into another repository.
        # `git clone` honours them too, so it clones into `<partial>/.git` with GIT_WORK_TREE at `<partial>`.
        "GIT_DIR": os.fspath(git_dir),
        "GIT_WORK_TREE": os.fspath(partial),
        "GIT_INDEX_FILE": os.fspath(git_dir / "index"),
        "GIT_COMMON_DIR": os.fspath(git_dir),
        "GIT_OBJECT_DIRECTORY": os.fspath(git_dir / "objects"),
    }
    no_checkout = ["--no-checkout"] if commit is not None else []
    # --no-local: a local source is read through the transport, never hard-linked or copied file by file
    clone_args = ["clone", "--quiet", "--no-local", *no_checkout, "--", url, os.fspath(git_dir)]
    _git(clone_args, partial.parent, env, deadline, timeout)
    if commit is None:
        try:
            head = _git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], partial, env, deadline, timeout)
        except _CloneFailed as exc:
            raise _CloneFailed(
                "the repository has no commit on a default branch (it is empty, or its HEAD names no branch)"
            ) from exc
    else:
        head = _resolve(commit, partial, env, deadline, timeout)
        _git(["checkout", "--quiet", "--detach", head, "--"], partial, env, deadline, timeout, "checkout: ")
    _git(
        ["submodule", "update", "--init", "--recursive", "--checkout"],
        partial,
        env,
        deadline,
        timeout,
        "submodules: ",
    )
    return head


def _resolve(commit: str, partial: Path, env: dict[str, str], deadline: float, timeout: float) -> str:
    """The full id of the commit the manifest gave; an id not on a branch or tag (a pull request's) is
    fetched by itself, as GitHub allows."""

    def lookup() -> str | None:
        try:
            return _git(["rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], partial, env, deadline, timeout)
        except _CloneFailed as exc:
            if "ambiguous" in str(exc):
                raise _CloneFailed(f"commit id {commit} is ambiguous in the repository: give more digits") from exc
            return None

    found = lookup()
    if found is None and len(commit) in (40, 64):
        try:
            _git(["fetch", "--quiet", "origin", commit], partial, env, deadline, timeout)
        except _CloneFailed as exc:
            if str(exc).startswith("timed out"):
                raise
        else:
            found = lookup()
    if found is None:
        raise _CloneFailed(f"commit {commit} is not in the repository (not on a branch or tag it offers)")
    if not found.startswith(commit):
        # a branch or tag named like the id wins over the id in git's lookup
        raise _CloneFailed(f"commit id {commit} is ambiguous: a branch or tag of the repository has that name")
    return found


def _git(args: list[str], cwd: Path, env: dict[str, str], deadline: float, timeout: float, context: str = "") -> str:
    """Run one git command to the deadline; its standard output, or `_CloneFailed` with git's reason."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _CloneFailed(f"timed out after {timeout:g} s")
    runner = git.Git(os.fspath(cwd))
    runner.update_environment(**env)
    try:
        # A session of its own: no terminal to prompt on, and one process group to kill on timeout
        # (GitPython's own timeout kills git's children but not their children, e.g. submodule clones).
        handle = runner.execute(["git", *args], as_process=True, start_new_session=True)
    except GitCommandNotFound as exc:
        raise _CloneFailed("git is not installed") from exc
    except (GitError, OSError) as exc:
        raise _CloneFailed(f"git could not start ({type(exc).__name__})") from exc
    process = handle.proc
    assert process is not None
    try:
        out, err = process.communicate(timeout=remaining)
    except subprocess.TimeoutExpired:
        kill_group(process)
        raise _CloneFailed(f"timed out after {timeout:g} s") from None
    except BaseException:
        kill_group(process)
        raise
    if process.returncode != 0:
        # in a submodule, say which repository: the URL that people see is the superproject's
        reason = _git_reason(err.decode("utf-8", "replace") if err else "", which=bool(context))
        raise _CloneFailed(context + reason)
    return out.decode("utf-8", "replace").strip() if out else ""


_REASONS = (
    # (what git says, what people are told)
    ("terminal prompts disabled", "the server asks for credentials: the repository is private or does not exist"),
    ("authentication failed", "the server refused the credentials: the repository is private or does not exist"),
    ("permission denied (publickey", "the ssh server refused: no key for it here"),
    ("host key verification failed", "the ssh server's host key is not known here"),
    ("could not resolve host", "the host name does not resolve (no network, or a typing error)"),
)


def _git_reason(stderr: str, which: bool = False) -> str:
    """One line from git's error output: a known cause in plain words, else git's first fatal message."""
    lowered = stderr.lower()
    for needle, reason in _REASONS:
        if needle in lowered:
            return reason
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    chosen = (
        next((line for line in lines if line.startswith("fatal:")), None)
        or next((line for line in lines if line.startswith("error:")), None)
        or (lines[-1] if lines else "git failed without saying why")
    )
    chosen = chosen.removeprefix("fatal:").removeprefix("error:").strip()
    if "does not appear to be a git repository" in chosen or re.search(
        r"repository .* (not found|does not exist)", chosen
    ):
        quoted = re.search(r"'([^']+)'", chosen)
        return f"repository {redact(quoted[1])} not found" if which and quoted else "repository not found"
    return _shorten(redact(chosen), 300)


def redact(text: str) -> str:
    """A URL (or a message holding one) without the password of its user part."""
    return re.sub(r"(://[^/@\s:]*):[^/@\s]*@", r"\1:***@", text)


# Public names for the pieces above that audit.fix.git_sources reuses to fetch and read repositories the
# same way (safe environment, refused transports, a deadline that kills git's whole process group).
GitFailed = _CloneFailed
git_environment = _clone_env
git_transport = _protocol
run_git = _git
