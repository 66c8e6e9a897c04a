"""Everything the rules look at in one entry, parsed once and shared (`EntryView`).

Dockerfiles, build contexts, the requirement files each build reaches (followed from `RUN pip install
-r` through `COPY` back into the context, then nested `-r`/`-c`), the other dependency files of the
entry (requirement files, `environment.yml`, `pyproject.toml`) and Python sources are built lazily,
so a rule family that is not selected costs nothing.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import yaml

from audit.config import Config, ConfigError
from audit.model import Entry, Target
from audit.secrets.scan import SecretOptions
from audit.tree import EntryTree
from audit.views.context import BuildContext
from audit.views.dockerfile import DockerfileView, Instruction, RunStep, parse_dockerfile
from audit.views.installs import Install, parse_install
from audit.views.python import PythonView, parse_python
from audit.views.requirements import (
    Graded,
    InvalidLine,
    OptionLine,
    RequirementFile,
    RequirementLine,
    grade_conda,
    grade_pip,
    parse_conda_file,
    parse_requirement_file,
)
from audit.views.shell import SimpleCommand

REQUIREMENT_NAME = re.compile(r"(^|/)([^/]*requirements[^/]*\.(txt|in)|constraints[^/]*\.txt|requirements/[^/]+\.txt)$")
ENVIRONMENT_NAME = re.compile(r"(^|/)(environment|conda)[^/]*\.ya?ml$")
CONDA_LIST_NAME = re.compile(r"(^|/)conda[^/]*\.txt$")  # a `conda install --file` list
TOML_ERROR_LINE = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass
class TargetView:
    target: Target
    dockerfile: DockerfileView | None  # None when the file could not be read
    context: BuildContext


@dataclass
class InstallUse:
    """An install performed by a RUN of a target."""

    target: TargetView
    step: RunStep
    command: SimpleCommand
    install: Install
    line: int


@dataclass
class ReachedFile:
    """A dependency file some build reads, or one found in the tree."""

    path: str  # entry-relative
    target: str | None  # the Dockerfile that reads it, None when only found in the tree
    kind: str  # "requirements" | "constraints" | "conda" | "pyproject"
    parsed: RequirementFile


@dataclass(frozen=True)
class MissingFile:
    """A requirement file a build reads that is not in its context."""

    requested: str  # as written in the RUN or requirement file
    expected: str  # entry-relative path where it should be
    target: str
    where: str  # entry-relative file that asks for it
    line: int


class EntryView:
    def __init__(self, entry: Entry, tree: EntryTree, config: Config, config_error: ConfigError | None = None) -> None:
        self.entry = entry
        self.tree = tree
        self.config = config
        self.config_error = config_error  # the entry's own [tool.repro-audit] was unusable: defaults were used
        self._read_everything_done = False
        self.secret_options = SecretOptions()  # set by the engine from the options and the config

    def read_everything(self) -> None:
        """Read every file some rule reads, so that read problems do not depend on which rules run.

        Everything goes through the views and the tree's caches, so after the other rules ran this costs
        nothing, and files read here are not read again by a rule that runs later.
        """
        if self._read_everything_done:
            return
        self._read_everything_done = True
        for view in self.targets:  # the Dockerfiles, parsed once through the tree's memo
            if view.context.dockerignore_file is not None:
                self.tree.read_text(view.context.dockerignore_file)
        _ = self.dependency_files  # requirement files (and their -r / -c), environment.yml, pyproject.toml
        for path in self.tree.files:
            if (
                path == ".gitmodules"
                or posixpath.basename(path) == ".gitignore"
                or (path.endswith(".py") and not self.config.path_ignored(path))
            ):
                self.tree.read_text(path)  # read only: the Python rules parse what they need themselves

    # ---- Dockerfiles --------------------------------------------------------------------------------

    @cached_property
    def targets(self) -> list[TargetView]:
        views = []
        for target in self.entry.targets:
            path = target.dockerfile
            text = self.tree.read_text(path)
            dockerfile = None
            if text is not None:
                source = text.text
                dockerfile = self.tree.memo("dockerfile", path, partial(parse_dockerfile, path, source))
            views.append(TargetView(target, dockerfile, BuildContext(self.tree, target.context, target.dockerfile)))
        return views

    def dockerfiles(self) -> Iterator[tuple[TargetView, DockerfileView]]:
        for view in self.targets:
            if view.dockerfile is not None:
                yield view, view.dockerfile

    @cached_property
    def installs(self) -> list[InstallUse]:
        found = []
        for view, dockerfile in self.dockerfiles():
            for step in dockerfile.runs():
                for cmd in step.commands:
                    install = parse_install(cmd)
                    if install is not None:
                        first = cmd.argv[1] if len(cmd.argv) > 1 else cmd.argv[0]
                        line = step.instruction.line_of(f"{cmd.argv[0]} {first}")
                        if line == step.instruction.start:
                            line = step.instruction.line_of(first)
                        found.append(InstallUse(view, step, cmd, install, line))
        return found

    # ---- dependency files -----------------------------------------------------------------------------

    @cached_property
    def _reach(self) -> tuple[list[ReachedFile], list[MissingFile]]:
        reached: dict[str, ReachedFile] = {}
        missing: list[MissingFile] = []
        for use in self.installs:
            requested = [(p, "requirements") for p in use.install.requirement_files]
            requested += [(p, "constraints") for p in use.install.constraint_files]
            conda = use.install.installer in ("conda", "mamba", "micromamba")
            for container_path, kind in requested:
                if "$" in container_path or "://" in container_path:
                    continue
                entry_path = self._context_file_for(use, container_path)
                if entry_path is None:
                    continue  # created inside the image (a clone, a download): nothing to follow
                if entry_path not in self.tree.files:
                    missing.append(
                        MissingFile(container_path, entry_path, use.target.target.dockerfile,
                                    use.target.target.dockerfile, use.line)
                    )  # fmt: skip
                    continue
                self._follow(entry_path, "conda" if conda else kind, use.target.target.dockerfile, reached, missing)
        return list(reached.values()), missing

    def _follow(
        self,
        path: str,
        kind: str,
        target: str | None,
        reached: dict[str, ReachedFile],
        missing: list[MissingFile],
    ) -> None:
        if path in reached:
            return
        parsed = self._parse_dependency_file(path, kind)
        if parsed is None:
            return
        reached[path] = ReachedFile(path, target, kind, parsed)
        for option, nested in parsed.nested():
            if "://" in nested or "$" in nested:
                continue
            nested_path = posixpath.normpath(posixpath.join(posixpath.dirname(path), nested))
            nested_kind = "constraints" if option.name == "constraints" else "requirements"
            if nested_path.startswith("../") or nested_path not in self.tree.files:
                if target is not None:
                    missing.append(MissingFile(nested, nested_path, target, path, option.line))
                continue
            self._follow(nested_path, nested_kind, target, reached, missing)

    @cached_property
    def dependency_files(self) -> list[ReachedFile]:
        """Files the builds read (with their target) first, then the other dependency files of the tree."""
        found = {r.path: r for r in self._reach[0]}
        for path in sorted(self.tree.files):
            if path in found or self.config.path_ignored(path):
                continue
            kind = None
            if CONDA_LIST_NAME.search(path):
                kind = "conda"
            elif REQUIREMENT_NAME.search(path):
                kind = "constraints" if "constraints" in posixpath.basename(path) else "requirements"
            elif ENVIRONMENT_NAME.search(path):
                kind = "conda"
            elif posixpath.basename(path) == "pyproject.toml":
                kind = "pyproject"
            if kind is None:
                continue
            if kind in ("requirements", "constraints"):
                self._follow(path, kind, None, found, [])
            else:
                parsed = self._parse_dependency_file(path, kind)
                if parsed is not None:
                    found[path] = ReachedFile(path, None, kind, parsed)
        return list(found.values())

    @property
    def missing_requirement_files(self) -> list[MissingFile]:
        return self._reach[1]

    def _parse_dependency_file(self, path: str, kind: str) -> RequirementFile | None:
        text = self.tree.read_text(path)
        if text is None:
            return None
        if kind == "conda":
            if path.endswith((".yml", ".yaml")):
                return parse_environment_yaml(path, text.text)
            return parse_conda_file(path, text.text)
        if kind == "pyproject":
            return parse_pyproject_dependencies(path, text.text)
        return parse_requirement_file(path, text.text)

    def _context_file_for(self, use: InstallUse, container_path: str) -> str | None:
        """Map a path read inside the image back to a file of the build context, through COPY/ADD."""
        dockerfile = use.target.dockerfile
        assert dockerfile is not None
        stage = use.step.instruction.stage
        workdir = "/"
        copies: list[tuple[Instruction, str]] = []
        for ins in dockerfile.instructions:
            if ins.stage != stage or ins.start >= use.step.instruction.start:
                continue
            if ins.keyword == "WORKDIR" and ins.rest:
                workdir = posixpath.normpath(posixpath.join(workdir, ins.rest.strip().strip("\"'")))
            elif ins.keyword in ("COPY", "ADD") and "from" not in ins.flags:
                copies.append((ins, workdir))
        cwd = workdir
        for cmd in use.step.commands:
            if cmd.argv and cmd.argv[0] == "cd" and len(cmd.argv) > 1:
                cwd = posixpath.normpath(posixpath.join(cwd, cmd.argv[1]))
            if cmd is use.command:
                break
        wanted = posixpath.normpath(posixpath.join(cwd, container_path))
        for ins, at in reversed(copies):
            words = ins.words()
            if len(words) < 2:
                continue
            sources, dest = words[:-1], words[-1]
            dest_path = posixpath.normpath(posixpath.join(at, dest))
            dest_is_dir = dest.endswith("/") or len(sources) > 1 or dest in (".", "./")
            for source in sources:
                if source.startswith(("<<", "http://", "https://")) or "$" in source:
                    continue
                resolution = use.target.context.resolve(source)
                if resolution.context_path is None:
                    continue
                is_dir = source.rstrip("/") in (".", "") or self.tree.is_dir(resolution.context_path)
                if is_dir and (wanted == dest_path or wanted.startswith(dest_path.rstrip("/") + "/")):
                    suffix = posixpath.relpath(wanted, dest_path)
                    return posixpath.normpath(posixpath.join(resolution.context_path, suffix))
                target_file = posixpath.join(dest_path, posixpath.basename(source)) if dest_is_dir else dest_path
                if not is_dir and wanted == target_file:
                    return resolution.context_path
        return None

    # ---- Python sources ----------------------------------------------------------------------------

    @cached_property
    def python_sources(self) -> list[PythonView]:
        views = []
        for path in sorted(self.tree.files):
            if path.endswith(".py") and not self.config.path_ignored(path):
                text = self.tree.read_text(path)
                if text is not None:
                    views.append(parse_python(path, text.text))
        return views


# ---- environment.yml and pyproject.toml -------------------------------------------------------------


def parse_environment_yaml(path: str, text: str) -> RequirementFile:
    """Conda dependencies and their `pip:` sub-list, with the line of each entry."""
    result = RequirementFile(path, [], [], [])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        result.invalid.append(_invalid(mark.line + 1 if mark else 1, f"not valid YAML: {exc}".splitlines()[0]))
        return result
    if not isinstance(root, yaml.MappingNode):
        return result
    for key, value in root.value:
        if key.value == "channels" and isinstance(value, yaml.SequenceNode):
            for item in value.value:
                if isinstance(item, yaml.ScalarNode):
                    result.options.append(OptionLine(item.start_mark.line + 1, "conda_channel", (item.value,)))
        if key.value != "dependencies" or not isinstance(value, yaml.SequenceNode):
            continue
        for item in value.value:
            if isinstance(item, yaml.ScalarNode):
                _add(result, item.start_mark.line + 1, grade_conda(str(item.value)))
            elif isinstance(item, yaml.MappingNode):
                for sub_key, sub_value in item.value:
                    if sub_key.value == "pip" and isinstance(sub_value, yaml.SequenceNode):
                        for pip_item in sub_value.value:
                            if isinstance(pip_item, yaml.ScalarNode):
                                _add_pip_word(result, pip_item.start_mark.line + 1, str(pip_item.value))
    return result


def _add_pip_word(result: RequirementFile, line: int, word: str) -> None:
    word = word.strip()
    for option in ("-r ", "--requirement ", "-c ", "--constraint "):
        if word.startswith(option):
            name = "constraints" if option.strip().lstrip("-")[0] == "c" else "requirements"
            result.options.append(OptionLine(line, name, (word[len(option) :].strip(),)))
            return
    for option in ("--extra-index-url", "--index-url", "-i "):
        if word.startswith(option):
            name = "extra_index_urls" if option == "--extra-index-url" else "index_url"
            result.options.append(OptionLine(line, name, (word[len(option) :].strip(" ="),)))
            return
    editable = word.startswith(("-e ", "--editable "))
    _add(result, line, grade_pip(word.split(None, 1)[1] if editable else word, editable=editable))


def parse_pyproject_dependencies(path: str, text: str) -> RequirementFile:
    """PEP 621 `dependencies` / `optional-dependencies` and Poetry dependencies, each on its own line."""
    result = RequirementFile(path, [], [], [])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        result.invalid.append(_invalid(toml_error_line(exc, text), f"not valid TOML: {exc}"))
        return result
    scan = TomlScan(text)
    project = _subtable(data, "project")
    arrays: list[tuple[tuple[str, ...], object]] = [(("project", "dependencies"), project.get("dependencies"))]
    optional = _subtable(project, "optional-dependencies")
    arrays += [(("project", "optional-dependencies", group), specs) for group, specs in optional.items()]
    for key, specs in arrays:
        if not isinstance(specs, list):
            continue
        lines = scan.string_lines(key)
        for spec in specs:
            if isinstance(spec, str):
                occurrences = lines.get(spec)  # a spec written twice in one array gets both of its lines
                _add(result, occurrences.pop(0) if occurrences else scan.key_line(key), grade_pip(spec))
    poetry = _subtable(_subtable(data, "tool"), "poetry")
    tables: list[tuple[tuple[str, ...], dict[str, Any]]] = [
        (("tool", "poetry", "dependencies"), _subtable(poetry, "dependencies")),
        (("tool", "poetry", "dev-dependencies"), _subtable(poetry, "dev-dependencies")),
    ]
    for group in _subtable(poetry, "group"):
        table = _subtable(_subtable(_subtable(poetry, "group"), group), "dependencies")
        tables.append((("tool", "poetry", "group", group, "dependencies"), table))
    for key, table in tables:
        for name, constraint in table.items():
            if name != "python":
                _add(result, scan.key_line((*key, name)), grade_poetry(name, constraint))
    return result


def _subtable(table: dict[str, Any], key: str) -> dict[str, Any]:
    value = table.get(key)
    return value if isinstance(value, dict) else {}


def toml_error_line(exc: tomllib.TOMLDecodeError, text: str) -> int:
    """The line of a TOML error: `lineno` from Python 3.14, else the "(at line L, column C)" of the message."""
    line = getattr(exc, "lineno", None)
    if isinstance(line, int) and line > 0:
        return line
    match = TOML_ERROR_LINE.search(str(exc))
    if match:
        return int(match.group(1))
    if "end of document" in str(exc):
        return max(1, len(text.splitlines()))
    return 1


def grade_poetry(name: str, constraint: object) -> Graded:
    if isinstance(constraint, dict):
        if "git" in constraint:
            rev = constraint.get("rev")
            url = f"git+{constraint['git']}" + (f"@{rev}" if rev else "")
            return grade_pip(f"{name} @ {url}")
        if "path" in constraint:
            return grade_pip(str(constraint["path"]), editable=bool(constraint.get("develop")))
        constraint = constraint.get("version", "")
    text = str(constraint).strip()
    if text in ("", "*"):
        return grade_pip(name)
    if text[0] in "^~" and not text.startswith("~="):
        return grade_pip(f"{name}>={text[1:]},<99999")  # caret and tilde ranges have an upper bound
    if text[0].isdigit():
        return grade_pip(f"{name}=={text}")
    return grade_pip(f"{name}{text}")


def _add(result: RequirementFile, line: int, graded: Graded) -> None:
    result.requirements.append(RequirementLine(line, graded, 0))


def _invalid(line: int, message: str) -> InvalidLine:
    return InvalidLine(line, message)


# ---- where things are in a TOML file ------------------------------------------------------------------

TOML_TOKEN = re.compile(
    r"""
    (?P<newline>\r?\n)
    | (?P<space>[ \t]+)
    | (?P<comment>\#[^\n]*)
    | (?P<string>\"\"\"(?:[^"\\]|\\[\s\S]|"(?!""))*\"\"\""{0,2}
                 | '\'\'[\s\S]*?\'\'\''{0,2}
                 | "(?:[^"\\\n]|\\.)*"
                 | '[^'\n]*')
    | (?P<punct>[\[\]{}=,])
    | (?P<bare>[^\s\[\]{}=,\#"']+)
    """,
    re.VERBOSE,
)


class TomlScan:
    """The line of every key and of every string value of a TOML document that tomllib already accepted.

    tomllib gives values without positions, so this walks the tokens once: table headers, dotted and
    quoted keys, arrays and inline tables, with a key path for each string (array items share their
    array's path). Written by hand: no TOML library on PyPI reports line numbers.
    """

    def __init__(self, text: str) -> None:
        self.keys: dict[tuple[str, ...], int] = {}
        self.strings: list[tuple[tuple[str, ...], str, int]] = []
        self._tokens: list[tuple[str, str, int]] = []
        line = 1
        for match in TOML_TOKEN.finditer(text):
            kind = match.lastgroup or "bare"
            if kind not in ("space", "comment"):
                self._tokens.append((kind, match.group(), line))
            line += match.group().count("\n")
        self._index = 0
        self._walk()

    def key_line(self, key: tuple[str, ...]) -> int:
        """Where the key (or the table header of that name) is written, 1 when it is not."""
        return self.keys.get(key, 1)

    def string_lines(self, key: tuple[str, ...]) -> dict[str, list[int]]:
        """The lines of the strings under `key`, by value, in document order."""
        found: dict[str, list[int]] = {}
        for path, value, line in self.strings:
            if path == key:
                found.setdefault(value, []).append(line)
        return found

    def _peek(self) -> tuple[str, str, int]:
        return self._tokens[self._index] if self._index < len(self._tokens) else ("end", "", 0)

    def _walk(self) -> None:
        table: tuple[str, ...] = ()
        while self._index < len(self._tokens):
            kind, raw, line = self._peek()
            if kind == "newline":
                self._index += 1
            elif raw == "[":  # [table] or [[array.of.tables]]
                while self._peek()[1] == "[":
                    self._index += 1
                table = self._key("]") or ()
                self.keys.setdefault(table, line)
                self._skip_line()
            else:
                name = self._key("=")
                if name is not None:
                    self.keys.setdefault(table + name, line)
                    self._value(table + name)
                self._skip_line()

    def _key(self, end: str) -> tuple[str, ...] | None:
        """A dotted key and the `end` after it ("=" or "]"), consumed; None when no `end` follows."""
        parts: list[str] = []
        while self._peek()[0] in ("string", "bare"):
            kind, raw, _line = self._peek()
            parts.extend([_toml_string(raw)] if kind == "string" else [p for p in raw.split(".") if p])
            self._index += 1
        if self._peek()[1] != end:
            return None
        self._index += 1
        return tuple(parts)

    def _value(self, key: tuple[str, ...]) -> None:
        kind, raw, line = self._peek()
        self._index += 1
        if kind == "string":
            self.strings.append((key, _toml_string(raw), line))
        elif raw == "[":
            while self._peek()[0] != "end" and self._peek()[1] != "]":
                if self._peek()[0] == "newline" or self._peek()[1] == ",":
                    self._index += 1
                else:
                    self._value(key)
            self._index += 1
        elif raw == "{":
            while self._peek()[0] != "end" and self._peek()[1] != "}":
                if self._peek()[1] == ",":
                    self._index += 1
                    continue
                item_line = self._peek()[2]
                name = self._key("=")
                if name is None:  # not a key (the time of a date-time written with a space): step over it
                    self._index += 1
                    continue
                self.keys.setdefault(key + name, item_line)
                self._value(key + name)
            self._index += 1

    def _skip_line(self) -> None:
        while self._peek()[0] not in ("end", "newline"):
            self._index += 1


def _toml_string(raw: str) -> str:
    if raw[0] == "'" and not raw.startswith("'''"):
        return raw[1:-1]
    if raw[0] == '"' and not raw.startswith('"""') and "\\" not in raw:
        return raw[1:-1]
    value = tomllib.loads(f"v = {raw}")["v"]  # escapes and multi-line strings: let tomllib decode them
    return value if isinstance(value, str) else raw
