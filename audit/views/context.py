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
import re
from dataclasses import dataclass, field
from functools import cached_property

import pathspec
from docker.utils.build import Pattern, PatternMatcher

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
        self._ignored: dict[tuple[str, bool], bool] = {}

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
        patterns = [pattern for pattern in patterns if _compiles_for_docker(pattern)]
        return PatternMatcher(patterns) if patterns else None

    def dockerignored(self, entry_path: str) -> bool:
        matcher = self._dockerignore
        if matcher is None:
            return False
        rel = self.relative(entry_path)
        return rel not in (None, ".") and bool(matcher.matches(rel))

    @cached_property
    def _gitignores(self) -> list[tuple[str, pathspec.GitIgnoreSpec]]:
        specs = []
        for path in self.tree.files:
            if posixpath.basename(path) == ".gitignore":
                text = self.tree.read_text(path)
                if text is not None:
                    folder = posixpath.dirname(path)
                    specs.append((folder, _gitignore_spec(text.lines)))
        return sorted(specs, key=lambda item: item[0].count("/"))

    def gitignored(self, entry_path: str) -> bool:
        """Whether git ignores the path, or a folder above it (git never looks inside an ignored folder).

        A path that is not in the tree counts as ignored when it would be, either as a file or as a folder.
        """
        if entry_path in ("", "."):
            return False
        parts = entry_path.split("/")
        if any(self._ignores("/".join(parts[:depth]), folder=True) for depth in range(1, len(parts))):
            return True
        if not self.tree.exists(entry_path):
            return self._ignores(entry_path, folder=False) or self._ignores(entry_path, folder=True)
        return self._ignores(entry_path, folder=self.tree.is_dir(entry_path))

    def _ignores(self, entry_path: str, *, folder: bool) -> bool:
        key = (entry_path, folder)
        if key not in self._ignored:  # every match of a glob asks again about the same parent folders
            self._ignored[key] = self._ignores_uncached(entry_path, folder=folder)
        return self._ignored[key]

    def _ignores_uncached(self, entry_path: str, *, folder: bool) -> bool:
        ignored = False
        for base, spec in self._gitignores:
            if base and not entry_path.startswith(base + "/"):
                continue
            rel = entry_path[len(base) + 1 :] if base else entry_path
            # pathspec matches a folder as "name/", which is what makes `checkpoints/` apply to it
            result = spec.check_file(rel + "/" if folder else rel)
            if folder and result.include and _inside_only(spec, result.index):
                # but it also reads `name/**` as matching "name/" itself, where git's trailing `/**`
                # matches only what is inside the folder
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
        result = Resolution(source=source, context_path=None if _escapes(joined) else joined)
        if _escapes(within_context) or result.context_path is None:
            # the second case is a configured context that itself lies outside the entry
            result.outside_context = True
            if result.context_path is not None:
                result.matches = self._glob(result.context_path)
            return result
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


def _escapes(path: str) -> bool:
    """Whether a normalised relative path leaves its folder: `..` or `../x`, not a name like `..data`."""
    return path == ".." or path.startswith("../")


def _gitignore_spec(lines: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    """The patterns of a `.gitignore`, skipping the lines git skips (a lone `!`, a trailing `\\`, `[z-a]`)."""
    try:
        return _checked(pathspec.GitIgnoreSpec.from_lines(lines))
    except (ValueError, re.error):  # pathspec's GitIgnorePatternError is a ValueError
        pass
    valid = []
    for line in lines:
        try:
            _checked(pathspec.GitIgnoreSpec.from_lines([line]))
        except (ValueError, re.error):
            continue
        valid.append(line)
    return pathspec.GitIgnoreSpec.from_lines(valid)


def _checked(spec: pathspec.GitIgnoreSpec) -> pathspec.GitIgnoreSpec:
    spec.check_file("probe")  # some backends compile the expressions on first use
    return spec


def _compiles_for_docker(pattern: str) -> bool:
    """Whether docker-py can compile the pattern (`[z-a]` it cannot): one bad line must not stop every copy rule."""
    try:
        Pattern(pattern).match("probe")
    except re.error:
        return False
    return True


def _inside_only(spec: pathspec.GitIgnoreSpec, index: int | None) -> bool:
    """Whether the pattern at `index` ends in `/**`, which matches what is inside a folder, not the folder."""
    if index is None:
        return False
    pattern = spec.patterns[index].pattern
    return isinstance(pattern, str) and pattern.rstrip().endswith("/**")
