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
from functools import cached_property

import yaml

from audit.config import Config
from audit.model import Entry, Target
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
    parse_requirement_file,
)
from audit.views.shell import SimpleCommand

REQUIREMENT_NAME = re.compile(r"(^|/)([^/]*requirements[^/]*\.(txt|in)|constraints[^/]*\.txt|requirements/[^/]+\.txt)$")
ENVIRONMENT_NAME = re.compile(r"(^|/)(environment|conda)[^/]*\.ya?ml$")


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
    def __init__(self, entry: Entry, tree: EntryTree, config: Config) -> None:
        self.entry = entry
        self.tree = tree
        self.config = config

    # ---- Dockerfiles --------------------------------------------------------------------------------

    @cached_property
    def targets(self) -> list[TargetView]:
        views = []
        for target in self.entry.targets:
            path = target.dockerfile
            text = self.tree.read_text(path)
            dockerfile = (
                self.tree.memo("dockerfile", path, lambda p=path, t=text: parse_dockerfile(p, t.text))
                if text is not None
                else None
            )
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
            if REQUIREMENT_NAME.search(path):
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
        if kind == "conda" and path.endswith((".yml", ".yaml")):
            return parse_environment_yaml(path, text.text)
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
    """PEP 621 `dependencies` / `optional-dependencies` and Poetry dependencies, lines found by search."""
    result = RequirementFile(path, [], [], [])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        result.invalid.append(_invalid(getattr(exc, "lineno", 1) or 1, f"not valid TOML: {exc}"))
        return result
    lines = text.splitlines()
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    specs: list[str] = [d for d in project.get("dependencies", []) if isinstance(d, str)]
    optional = project.get("optional-dependencies", {})
    if isinstance(optional, dict):
        for group in optional.values():
            if isinstance(group, list):
                specs.extend(d for d in group if isinstance(d, str))
    for spec in specs:
        _add(result, _line_of(lines, spec), grade_pip(spec))
    poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
    for table in (poetry.get("dependencies"), poetry.get("dev-dependencies")):
        if not isinstance(table, dict):
            continue
        for name, constraint in table.items():
            if name == "python":
                continue
            line = _line_of(lines, f"{name} =") or _line_of(lines, name)
            _add(result, line, grade_poetry(name, constraint))
    return result


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


def _line_of(lines: list[str], needle: str) -> int:
    for number, line in enumerate(lines, start=1):
        if needle in line:
            return number
    return 1


def _add(result: RequirementFile, line: int, graded: Graded) -> None:
    result.requirements.append(RequirementLine(line, graded, 0))


def _invalid(line: int, message: str) -> InvalidLine:
    return InvalidLine(line, message)
