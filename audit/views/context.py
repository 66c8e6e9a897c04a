"""What a build context holds on the organizers' machine, as opposed to the submitter's.

A `COPY` source can be missing from the tree, excluded by `.dockerignore` (docker-py's
`PatternMatcher`, which ports Docker's own matching: Go-style globs, `**`, `!` exceptions, parent
folders), inside a git submodule that a plain clone leaves empty (`.gitmodules`), or present only
because `.gitignore` kept it out of git (pathspec's git wildmatch, applied per `.gitignore` folder).
Sources are matched per path segment with Go's `filepath.Match` semantics (`*` stops at `/`), which
is what `COPY` uses; a leading `/` is relative to the context.
"""

from __future__ import annotations

import configparser
import fnmatch
import posixpath
from dataclasses import dataclass, field
from functools import cached_property

import pathspec
from docker.utils.build import PatternMatcher

from audit.tree import EntryTree

GLOB_CHARS = frozenset("*?[")


@dataclass
class Resolution:
    """Where a COPY source lands in the entry: its matches, and why any of them would be missing."""

    source: str
    context_path: str | None  # entry-relative, None when it escapes the entry
    matches: list[str] = field(default_factory=list)  # entry-relative files and folders
    outside_context: bool = False
    dockerignored: list[str] = field(default_factory=list)
    gitignored: list[str] = field(default_factory=list)
    submodule: str | None = None  # the declared, not checked out submodule it points into


class BuildContext:
    """The context folder of one target (entry-relative) with its ignore files."""

    def __init__(self, tree: EntryTree, context: str, dockerfile: str) -> None:
        self.tree = tree
        self.context = posixpath.normpath(context) if context not in ("", ".") else "."
        self.dockerfile = dockerfile

    # ---- ignore files ------------------------------------------------------------------------------

    @cached_property
    def dockerignore_file(self) -> str | None:
        # BuildKit reads "<Dockerfile>.dockerignore" next to the Dockerfile before the context's own
        for candidate in (f"{self.dockerfile}.dockerignore", self.join(".dockerignore")):
            if candidate in self.tree.files:
                return candidate
        return None

    @cached_property
    def _dockerignore(self) -> PatternMatcher | None:
        if self.dockerignore_file is None:
            return None
        text = self.tree.read_text(self.dockerignore_file)
        if text is None:
            return None
        patterns = [line.strip() for line in text.lines if line.strip() and not line.lstrip().startswith("#")]
        return PatternMatcher(patterns) if patterns else None

    def dockerignored(self, entry_path: str) -> bool:
        matcher = self._dockerignore
        if matcher is None:
            return False
        rel = self.relative(entry_path)
        return rel not in (None, ".") and bool(matcher.matches(rel))

    @cached_property
    def _gitignores(self) -> list[tuple[str, pathspec.PathSpec]]:
        specs = []
        for path in self.tree.files:
            if posixpath.basename(path) == ".gitignore":
                text = self.tree.read_text(path)
                if text is not None:
                    folder = posixpath.dirname(path)
                    specs.append((folder, pathspec.GitIgnoreSpec.from_lines(text.lines)))
        return sorted(specs, key=lambda item: item[0].count("/"))

    def gitignored(self, entry_path: str) -> bool:
        ignored = False
        for folder, spec in self._gitignores:
            if folder and not entry_path.startswith(folder + "/"):
                continue
            rel = entry_path[len(folder) + 1 :] if folder else entry_path
            result = spec.check_file(rel)
            if result.include is not None:
                ignored = bool(result.include)
        return ignored

    @cached_property
    def empty_submodules(self) -> dict[str, str]:
        """Submodule paths declared in `.gitmodules` whose folder is absent or empty: path -> url."""
        text = self.tree.read_text(".gitmodules")
        if text is None:
            return {}
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        try:
            parser.read_string("\n".join(line.strip() for line in text.lines))
        except configparser.Error:
            return {}
        found = {}
        for section in parser.sections():
            path = parser.get(section, "path", fallback="").strip().strip("/")
            if path and not any(True for _ in self.tree.files_under(path)):
                found[path] = parser.get(section, "url", fallback="")
        return found

    # ---- paths -------------------------------------------------------------------------------------

    def join(self, rel: str) -> str:
        return rel if self.context == "." else f"{self.context}/{rel}"

    def relative(self, entry_path: str) -> str | None:
        if self.context == ".":
            return entry_path
        if entry_path == self.context:
            return "."
        if entry_path.startswith(self.context + "/"):
            return entry_path[len(self.context) + 1 :]
        return None

    def resolve(self, source: str) -> Resolution:
        """Match one COPY/ADD source against the tree, as the builder would."""
        cleaned = source.lstrip("/") or "."
        joined = posixpath.normpath(posixpath.join(self.context, cleaned))
        within_context = posixpath.normpath(cleaned)
        result = Resolution(source=source, context_path=None if joined.startswith("..") else joined)
        if within_context == ".." or within_context.startswith("../"):
            result.outside_context = True
            if result.context_path is not None:
                result.matches = self._glob(result.context_path)
            return result
        assert result.context_path is not None
        result.matches = self._glob(result.context_path)
        for module in self.empty_submodules:
            if result.context_path == module or result.context_path.startswith(module + "/"):
                result.submodule = module
        for match in result.matches:
            if self.dockerignored(match):
                result.dockerignored.append(match)
            if self.gitignored(match):
                result.gitignored.append(match)
        return result

    def _glob(self, pattern: str) -> list[str]:
        if pattern == ".":
            return ["."]
        if not GLOB_CHARS & set(pattern):
            return [pattern] if self.tree.exists(pattern) else []
        segments = pattern.split("/")
        candidates = [p for p in (*self.tree.files, *self.tree.dirs) if p.count("/") == len(segments) - 1]
        return sorted(
            path
            for path in candidates
            if all(fnmatch.fnmatchcase(part, seg) for part, seg in zip(path.split("/"), segments, strict=True))
        )
