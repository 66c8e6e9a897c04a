"""The files of one entry, walked once, read safely.

Every rule reads through an `EntryTree`, never through `open()`: it walks the entry once with
`os.scandir` (no symlink is followed during the walk), keeps sizes for the weight-file check, refuses
to read anything that resolves outside the entry, caps the size of what it decodes, and turns every
read problem into a finding of the `input` family instead of an exception. Reads are cached, so
the Dockerfile, requirement and Python views share one read per file.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DEFAULT_MAX_FILE_BYTES = 2 * 1024 * 1024
"""Text files larger than this are not parsed (a Dockerfile or requirement file is never this big)."""

SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


@dataclass(frozen=True)
class FileInfo:
    """A regular file of the entry (or a symlink that stays inside it), as found by the walk."""

    path: str  # entry-relative POSIX path
    size: int
    symlink: bool = False


@dataclass(frozen=True)
class ReadProblem:
    """Why a file could not be read as text: the `input` rule that reports it and a message."""

    rule: str
    path: str
    message: str


@dataclass(frozen=True)
class TextFile:
    path: str
    text: str
    lines: tuple[str, ...]
    replaced_bytes: bool  # the file was not valid UTF-8 and was decoded with replacement characters


@dataclass
class EntryTree:
    """An entry's files. `problems` collects what the walk and the reads could not handle."""

    root: Path
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    files: dict[str, FileInfo] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    escaping_links: dict[str, str] = field(default_factory=dict)  # path -> link target text
    problems: list[ReadProblem] = field(default_factory=list)
    _text_cache: dict[str, TextFile | None] = field(default_factory=dict)
    _memo: dict[tuple[str, str], object] = field(default_factory=dict)
    _reported: set[tuple[str, str]] = field(default_factory=set)
    _skipped: list[str] = field(default_factory=list)  # folders in SKIPPED_DIRS, walked only for secrets
    _hidden: dict[str, FileInfo] | None = None

    @classmethod
    def walk(cls, root: Path, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> EntryTree:
        tree = cls(root=root.resolve(), max_file_bytes=max_file_bytes)
        tree.dirs.add(".")
        tree._walk_dir(tree.root, "")
        return tree

    def _walk_dir(self, folder: Path, prefix: str, into: dict[str, FileInfo] | None = None) -> None:
        """Record the files under `folder` in `into` (default: `files`); SKIPPED_DIRS are noted, not entered."""
        files = self.files if into is None else into
        try:
            with os.scandir(folder) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self._problem("RA005", prefix.rstrip("/") or ".", f"cannot list this folder ({exc.strerror or exc})")
            return
        for child in children:
            rel = f"{prefix}{child.name}"
            try:
                if child.is_symlink():
                    self._add_symlink(child, rel, files)
                elif child.is_dir(follow_symlinks=False):
                    if child.name in SKIPPED_DIRS or (into is not None and rel.endswith(".git/objects")):
                        if into is None:
                            self._skipped.append(rel)
                        continue
                    if into is None:  # the folders of the secret-only walk stay out of what other rules see
                        self.dirs.add(rel)
                    self._walk_dir(Path(child.path), rel + "/", into)
                elif child.is_file(follow_symlinks=False):
                    files[rel] = FileInfo(rel, child.stat(follow_symlinks=False).st_size)
                # sockets, FIFOs and devices are neither read nor reported: nothing builds from them
            except OSError as exc:
                self._problem("RA005", rel, f"cannot inspect this file ({exc.strerror or exc})")

    def _add_symlink(self, child: os.DirEntry[str], rel: str, files: dict[str, FileInfo]) -> None:
        target_text = os.readlink(child.path)
        try:
            resolved = Path(child.path).resolve(strict=True)
        except (OSError, RuntimeError):
            resolved = None
        if resolved is None or not resolved.is_relative_to(self.root):
            # Never followed: a link out of the entry would read this machine's files, and on the
            # organizers' machine it points at nothing.
            if files is self.files:  # links in skipped folders are not the build's concern (RA006)
                self.escaping_links[rel] = target_text
            return
        try:
            st = resolved.stat()
        except OSError:
            return
        if stat.S_ISREG(st.st_mode):
            files[rel] = FileInfo(rel, st.st_size, symlink=True)
        elif stat.S_ISDIR(st.st_mode) and files is self.files:
            # A link to a folder inside the entry: its files are reached through their real path.
            self.dirs.add(rel)

    def _problem(self, rule: str, path: str, message: str) -> None:
        if (rule, path) not in self._reported:
            self._reported.add((rule, path))
            self.problems.append(ReadProblem(rule, path, message))

    # ---- queries -------------------------------------------------------------------------------

    def exists(self, rel: str) -> bool:
        return rel in self.files or rel in self.dirs

    def is_dir(self, rel: str) -> bool:
        return rel in self.dirs

    def files_under(self, folder: str) -> Iterator[FileInfo]:
        """Files whose path is inside `folder` ("." is the whole entry)."""
        if folder in (".", ""):
            yield from self.files.values()
            return
        prefix = folder.rstrip("/") + "/"
        for path, info in self.files.items():
            if path.startswith(prefix):
                yield info

    def nested_repositories(self) -> list[str]:
        """Folders below the entry root that hold a git repository of their own (`vendor/lib/.git`)."""
        return sorted(
            posixpath.dirname(folder)
            for folder in self._skipped
            if posixpath.basename(folder) == ".git" and "/" in folder
        )

    def secret_files(self) -> list[FileInfo]:
        """Every file a secret can hide in: the tree's files plus those of the folders the other checks skip
        (`__pycache__` holds `.pyc` files, `.git` holds `config` with remote URLs). Git's object store is
        left out: the history scan reads it through git."""
        if self._hidden is None:
            self._hidden = {}
            for folder in self._skipped:
                self._walk_dir(self.root / folder, folder + "/", self._hidden)
        return [*self.files.values(), *self._hidden.values()]

    def read_bytes(self, rel: str) -> bytes | None:
        """The raw bytes of a file found by the walk, or None after recording why it cannot be read."""
        info = self.files.get(rel) or (self._hidden or {}).get(rel)
        if info is None:
            return None
        path = self.root / rel
        try:
            if info.symlink and not path.resolve().is_relative_to(self.root):
                return None
            return path.read_bytes()
        except OSError as exc:
            self._problem("RA005", rel, f"cannot read this file ({exc.strerror or exc})")
            return None

    def read_text(self, rel: str) -> TextFile | None:
        """The decoded text of an entry file, or None after recording why it cannot be read."""
        if rel in self._text_cache:
            return self._text_cache[rel]
        result = self._read_text_uncached(rel)
        self._text_cache[rel] = result
        return result

    def _read_text_uncached(self, rel: str) -> TextFile | None:
        info = self.files.get(rel)
        if info is None:
            return None
        if info.size > self.max_file_bytes:
            limit = self.max_file_bytes // 1024
            self._problem(
                "RA003",
                rel,
                f"not checked: {info.size // 1024} KiB is over the {limit} KiB limit for text files",
            )
            return None
        path = self.root / rel
        try:
            if info.symlink and not path.resolve().is_relative_to(self.root):
                return None
            data = path.read_bytes()
        except OSError as exc:
            self._problem("RA005", rel, f"cannot read this file ({exc.strerror or exc})")
            return None
        replaced = False
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            replaced = True
            text = data.decode("utf-8", errors="replace")
            line = data[: exc.start].count(b"\n") + 1
            self._problem("RA004", rel, f"line {line} holds bytes that are not UTF-8; they were read as U+FFFD")
        return TextFile(rel, text, tuple(text.splitlines()), replaced)

    def memoized(self, kind: str, rel: str) -> object | None:
        """What `memo` built for this kind and file, or None if nothing asked for it."""
        return self._memo.get((kind, rel))

    def memo(self, kind: str, rel: str, build: Callable[[], T]) -> T:
        """Parse once per file and kind: role inference and the rules share one Dockerfile parse."""
        key = (kind, rel)
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]  # type: ignore[return-value]
