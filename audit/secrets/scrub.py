"""`repro-audit scrub SRC DEST`: a release copy of a submission (or of an archive) with no secret left.

The copy is made first and everything after touches only the copy; SRC is read, never written. Then, per
entry of the copy:

1. Git history (when the entry is a repository holding secrets in any commit): rewritten with
   git-filter-repo, every blob and commit message having each secret replaced by its marker
   `<REDACTED:kind:fingerprint>`; filter-repo then expires the reflogs and prunes, so no object keeps
   the old bytes. The copy's `.git/config` is first reduced to what describes the repository (no
   remotes, filters, hooks or aliases of the entrant), so nothing the entry names can run; the working
   tree is then copied from SRC again, so uncommitted work is kept.
2. The working tree: text files get each secret replaced by its marker (notebooks stay valid JSON: a
   marker needs no escaping); a private key block is replaced whole; binary files and archives holding
   a secret (`.pyc`, pickles, swap files, zips) cannot be edited safely and are removed, and listed.
3. The copy is scanned again with the same detectors, history included; anything still found, and any
   part the scan could not look into (an archive refused as a bomb, a file over the size limit), makes
   the command fail: the copy cannot be called clean.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import git

from audit.discover import find_entries
from audit.secrets import redact
from audit.secrets.catalog import DetectorSet
from audit.secrets.history import SAFE_GIT_ENV, find_git_dir
from audit.secrets.scan import EntrySecrets, FoundSecret, SecretOptions, scan_entry
from audit.tree import EntryTree

# A whole PEM block, END line included; a header alone (code that tests for one) is not a key to remove.
_PRIVATE_KEY_BLOCK = re.compile(
    rb"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----.{0,65536}?-----END[A-Z ]*PRIVATE KEY(?: BLOCK)?-----", re.DOTALL
)


class ScrubError(Exception):
    """A scrub that cannot start (DEST exists, SRC missing); the message says what to do."""


@dataclass
class EntryScrub:
    """What scrubbing did to one entry of the copy."""

    name: str
    secrets: int = 0  # distinct secrets found before scrubbing
    redacted_files: list[str] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)
    history_rewritten: bool = False
    history_error: str | None = None
    remaining: list[str] = field(default_factory=list)  # "path: kind fingerprint" still found by the rescan
    unverified: list[str] = field(default_factory=list)  # parts of the copy the rescan could not look into


@dataclass
class ScrubResult:
    source: str
    destination: str
    entries: list[EntryScrub] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return all(not e.remaining and not e.unverified and e.history_error is None for e in self.entries)


def run_scrub(source: Path, destination: Path, detectors: DetectorSet, options: SecretOptions) -> ScrubResult:
    """Copy SRC to DEST, scrub every entry of the copy, rescan it."""
    prepare_copy(source, destination)
    result = ScrubResult(str(source), str(destination))
    copy_root = destination.resolve()
    for entry in find_entries(destination):
        original = source.resolve() / entry.path.relative_to(copy_root)
        result.entries.append(scrub_entry(entry.path, entry.name, detectors, options, original=original))
    return result


def prepare_copy(source: Path, destination: Path) -> None:
    """Copy SRC to DEST (symbolic links copied as links, never followed)."""
    if not source.is_dir():
        raise ScrubError(f"{source} is not a folder: give a submission folder or an archive folder")
    if destination.exists() and any(destination.iterdir()):
        raise ScrubError(f"{destination} already exists and is not empty: give a new folder for the release copy")
    source_real, destination_real = source.resolve(), destination.resolve()
    if destination_real == source_real or destination_real.is_relative_to(source_real):
        raise ScrubError(f"{destination} is inside {source}: the copy must live outside the submission")
    shutil.copytree(source, destination, symlinks=True, dirs_exist_ok=True)


def scrub_entry(
    root: Path, name: str, detectors: DetectorSet, options: SecretOptions, original: Path | None = None
) -> EntryScrub:
    """Scrub one entry of the copy in place. `original` is the entry in SRC: after a history rewrite (which
    leaves the tracked files as committed) the working tree is copied from it again, so uncommitted work
    and untracked files are kept exactly, then redacted."""
    report = EntryScrub(name)
    found = scan_entry(EntryTree.walk(root), detectors, options)
    report.secrets = len(found.secrets)
    if not found.secrets:
        return report
    secrets = list(found.secrets.values())
    binary_files = sorted({p.location.path for s in secrets for p in s.tree if p.in_binary})
    if options.history and any(s.history for s in secrets):
        report.history_error = _rewrite_history(root, secrets, options.salt)
        report.history_rewritten = report.history_error is None
        if report.history_rewritten and original is not None and (root / ".git").is_dir():
            _restore_working_tree(original, root)
    for path in binary_files:
        _remove(root, path, report)
    # scanned again: a history rewrite resets tracked files to their (now redacted) committed state
    after = scan_entry(EntryTree.walk(root), detectors, replace(options, history=False))
    _scrub_tree(root, after, options.salt, report)
    rescan = scan_entry(EntryTree.walk(root), detectors, options)
    for secret in rescan.secrets.values():
        for path in secret.paths():
            report.remaining.append(f"{path}: {secret.kind.label} {secret.redacted} ({secret.fingerprint})")
    for location, message in rescan.gaps:
        # A part the rescan could not read may still hold a secret: the copy cannot be called clean.
        report.unverified.append(f"{location}: {message}")
    return report


def _restore_working_tree(original: Path, root: Path) -> None:
    """Make the copy's working tree the original's again (everything but `.git`)."""
    for child in root.iterdir():
        if child.name == ".git":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    for child in original.iterdir():
        if child.name == ".git":
            continue
        target = root / child.name
        if child.is_dir() and not child.is_symlink():
            shutil.copytree(child, target, symlinks=True)
        else:
            shutil.copy2(child, target, follow_symlinks=False)


def _scrub_tree(root: Path, found: EntrySecrets, salt: str, report: EntryScrub) -> None:
    by_path: dict[str, list[FoundSecret]] = {}
    binary: set[str] = set()
    for secret in found.secrets.values():
        for place in secret.tree:
            by_path.setdefault(place.location.path, []).append(secret)
            if place.in_binary:
                binary.add(place.location.path)
    for path, secrets in sorted(by_path.items()):
        target = root / path
        if target.is_symlink():
            target = target.resolve()  # a link inside the entry: edit what it points at, once
        if path in binary or not _rewrite_text(target, secrets, salt):
            _remove(root, path, report)
        elif path not in report.redacted_files:
            report.redacted_files.append(path)


def _remove(root: Path, path: str, report: EntryScrub) -> None:
    (root / path).unlink(missing_ok=True)
    if path not in report.removed_files:
        report.removed_files.append(path)


def _rewrite_text(path: Path, secrets: list[FoundSecret], salt: str) -> bool:
    """Replace every secret in a text file by its marker; False when the file cannot be kept."""
    data = path.read_bytes()
    utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
    text = data.decode("utf-16").encode("utf-8", "surrogatepass") if utf16 else data
    for secret in sorted(secrets, key=lambda s: len(s.value), reverse=True):
        marker = redact.marker(secret.kind.id, secret.value, salt).encode("ascii")
        if secret.kind.id == "private-key":
            text = _PRIVATE_KEY_BLOCK.sub(marker, text)
        text = text.replace(secret.value.encode("utf-8", "surrogatepass"), marker)
    if path.suffix == ".ipynb" and _was_json(data, utf16) and not _is_json(text):
        return False  # never leave a broken notebook: remove it instead
    path.write_bytes(text.decode("utf-8", "surrogatepass").encode("utf-16") if utf16 else text)
    return True


def _was_json(data: bytes, utf16: bool) -> bool:
    return _is_json(data.decode("utf-16").encode() if utf16 else data)


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True


def _rewrite_history(root: Path, secrets: list[FoundSecret], salt: str) -> str | None:
    """Rewrite every commit of the entry's repository without the secrets; the error text, or None."""
    import git_filter_repo as filter_repo  # imported here: it is only needed by scrub

    git_dir, why_not = find_git_dir(root)
    if git_dir is None:
        return why_not or "no repository found"
    if (git_dir / "shallow").exists():
        return "shallow clone: git-filter-repo cannot rewrite it; fetch the full history (git fetch --unshallow) first"
    _neutral_config(git_dir)
    # Archives and binaries cannot be edited byte for byte (compressed, or lengths inside): their blobs are
    # replaced whole by a note naming what they held.
    replaced_blobs = {
        place.blob: f"removed by repro-audit scrub: this file held {secret.kind.label} {secret.fingerprint}\n".encode()
        for secret in secrets
        for place in secret.history
        if place.in_binary and place.blob
    }
    replacements = [
        (s.value.encode("utf-8", "surrogatepass"), redact.marker(s.kind.id, s.value, salt).encode("ascii"))
        for s in sorted(secrets, key=lambda s: len(s.value), reverse=True)
    ]

    def clean(data: bytes) -> bytes:
        for value, marker in replacements:
            if value in data:
                data = data.replace(value, marker)
        return data

    def blob_callback(blob: Any, _metadata: object) -> None:
        original = blob.original_id.decode("ascii") if isinstance(blob.original_id, bytes) else None
        blob.data = replaced_blobs[original] if original in replaced_blobs else clean(blob.data)

    def message_callback(message: bytes) -> bytes:
        return clean(message)

    work_dir = git_dir.parent if git_dir.name == ".git" else git_dir
    # The repository is named explicitly, so its own `core.worktree` cannot send `reset --hard` outside the
    # copy; its hooks, fsmonitor and transports are off, as for the history scan.
    environment = {
        **SAFE_GIT_ENV,
        "GIT_CONFIG_COUNT": str(int(SAFE_GIT_ENV["GIT_CONFIG_COUNT"]) + 1),
        f"GIT_CONFIG_KEY_{SAFE_GIT_ENV['GIT_CONFIG_COUNT']}": "core.hooksPath",
        f"GIT_CONFIG_VALUE_{SAFE_GIT_ENV['GIT_CONFIG_COUNT']}": "/nonexistent/repro-audit/hooks",
        "GIT_DIR": os.fspath(git_dir),
        **({"GIT_WORK_TREE": os.fspath(work_dir)} if git_dir.name == ".git" else {}),
    }
    args = filter_repo.FilteringOptions.parse_args(["--force", "--quiet"])
    try:
        with _in_folder(work_dir), _environment(environment), contextlib.redirect_stdout(io.StringIO()):
            filter_repo.RepoFilter(args, blob_callback=blob_callback, message_callback=message_callback).run()
    except SystemExit as exc:  # filter-repo reports fatal problems by exiting
        return f"git-filter-repo stopped: {exc.code}"
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"git-filter-repo failed: {type(exc).__name__}"
    return None


def _neutral_config(git_dir: Path) -> None:
    """Replace the copy's `.git/config` by the few settings that describe the repository itself.

    filter-repo ends with `git reset --hard`, which runs whatever the entrant's config names: smudge and
    process filters, and more. A release copy has no use for the entrant's remotes (whose URLs may hold a
    token), filters or aliases either, so they are dropped, with `info/attributes`."""
    config_path = git_dir / "config"
    reader = git.GitConfigParser(str(config_path), read_only=True)
    bare = str(reader.get_value("core", "bare", False)).lower() == "true"
    version = str(reader.get_value("core", "repositoryformatversion", 0))
    object_format = reader.get_value("extensions", "objectformat", "") if reader.has_section("extensions") else ""
    lines = ["[core]", f"\trepositoryformatversion = {version}", f"\tbare = {'true' if bare else 'false'}"]
    if object_format:
        lines += ["[extensions]", f"\tobjectformat = {object_format}"]
    config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (git_dir / "info" / "attributes").unlink(missing_ok=True)


@contextlib.contextmanager
def _in_folder(folder: Path) -> Iterator[None]:
    """git-filter-repo works on the current folder (its --source/--target would skip the cleanup)."""
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
