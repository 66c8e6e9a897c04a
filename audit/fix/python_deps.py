"""The `python` resolver of `repro-audit fix`: lock what each Dockerfile stage installs with pip.

For every stage of a build target that runs `pip install` (or `python -m pip`, `uv pip`), the packages it
names and the requirement files it reads (followed through COPY by `EntryView`) are resolved with
pip-tools (`pip-compile --generate-hashes`) against the configured index as it was at the cut-off (pip's
`--uploaded-prior-to`), and the result becomes a hashed lock file next to the Dockerfile:

- the lock is `requirements.lock.txt` beside the Dockerfile (`requirements.train.lock.txt` for
  `Dockerfile.train` or `train.Dockerfile`; in the build context's root when the Dockerfile lies outside
  its context): a name the audit reads as a requirement file, never as another Dockerfile. When several
  stages install, one lock per stage, `requirements[.<suffix>].<stage alias or stageN>.lock.txt`, since
  stages have their own base image and Python;
- `COPY <lock> /tmp/repro-audit/<lock name>` goes right before the stage's first installing RUN, and every
  pip install of the stage becomes `<pip as written> install <options that say where packages come from>
  --require-hashes -r /tmp/repro-audit/<lock name>`. Every install reads the whole lock rather than only
  the first: the first installs everything, the later ones are no-ops that stay valid if an earlier RUN
  is ever removed or reordered;
- packages that cannot be resolved as of a date (the PyTorch index has no upload times, a local version
  such as `+cu118` exists only there) are pinned to the version the entry names or the base image ships,
  installed from their own index in the stage's first install before the locked set, and handed to
  pip-compile as constraints so the rest agrees with them;
- VCS requirements are pinned to the commit their ref had at the cut-off (`audit.fix.git_sources`), fed
  to pip-compile so their dependencies are locked, kept out of the lock (pip refuses VCS requirements in
  hash-checking mode) and installed after it with `--no-deps`; local paths are installed after it too;
- unpinned lines of the requirement files the build reads are pinned in place to the locked version.

pip-compile runs as a subprocess of this interpreter in a scratch folder, with every `PIP_*` variable
dropped and `PIP_CONFIG_FILE=/dev/null`, so no machine-wide find-links or extra index leaks into a lock.
It resolves for the interpreter it runs on: `--python-version` only changes which wheels pip accepts,
not how dependency markers are read (tried: `python_version < "3.11"` markers stay evaluated for the
running Python), so a stage whose Python differs gets a caveat instead.

Written by hand: the mapping from Dockerfile installs to pip-compile input and back to edits; resolution
itself is pip-tools', requirement parsing `packaging`'s and the entry's parsed views'.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import ClassVar

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from audit.fix.model import Change, Edit, FixSettings, NewFile, Note, Progress, Resolves, shown_url
from audit.fix.text import SEPARATOR, SourceText, Span
from audit.process import run_captured
from audit.rules.pins import unpinned
from audit.rules.shell_redirect_in_specifier import VERSIONISH
from audit.views.dockerfile import DockerfileView, Stage
from audit.views.entry import EntryView, InstallUse, TargetView
from audit.views.requirements import VCS_SCHEMES, Graded, Pin, RequirementFile

KIND = "python"
LOCK_FOLDER = "/tmp/repro-audit"
PYTORCH_INDEX_HOST = "download.pytorch.org"
PYTORCH_FAMILY = frozenset({"torch", "torchvision", "torchaudio", "torchtext", "torchdata", "triton"})
PIP_INSTALLERS = ("pip", "uv pip")
CONDA_INSTALLERS = ("conda", "mamba", "micromamba")
PYTHON_IMAGE = re.compile(r"(?:^|/)python:(\d+\.\d+)")
PYTORCH_IMAGE = re.compile(r"(?:^|/)pytorch/pytorch:(\d+\.\d+\.\d+)")

# pip install options kept on the rewritten command: they say where packages come from, where they go and
# how pip behaves, and still matter when it installs from a lock. Everything else (package words, -r, -c,
# -U, --upgrade-strategy, --no-deps) is dropped: the lock says what to install.
KEPT_FLAGS = frozenset(
    {
        "--no-index", "--no-cache-dir", "--user", "--break-system-packages", "-q", "--quiet", "-v", "--verbose",
        "--no-build-isolation", "--disable-pip-version-check", "--isolated", "-I", "--ignore-installed",
        "--force-reinstall", "--no-warn-script-location", "--no-warn-conflicts", "--compile", "--no-compile",
        "--prefer-binary", "--system",
    }
)  # fmt: skip
KEPT_VALUE_OPTIONS = frozenset(
    {
        "-f", "--find-links", "-i", "--index-url", "--extra-index-url", "--trusted-host", "--prefix", "--target",
        "-t", "--root", "--root-user-action", "--progress-bar", "--cache-dir", "--retries", "--timeout",
        "--proxy", "--cert", "--only-binary", "--no-binary", "--python", "-p", "-C", "--config-settings",
    }
)  # fmt: skip
INDEX_OPTIONS = frozenset({"-i", "--index-url", "--extra-index-url"})
DROPPED_VALUE_OPTIONS = frozenset(
    {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "--upgrade-strategy"}
)
REDIRECT_IN_COMMAND = r"(?:>>|>|<)=?[=~]?[ \t]*[0-9][0-9A-Za-z.*+!-]*"


def lock_name(dockerfile: str, stage: str | None) -> str:
    """`requirements[.<what the Dockerfile's name adds>][.<stage>].lock.txt`."""
    lower = dockerfile.lower()
    extra = ""
    for prefix in ("dockerfile.", "containerfile."):
        if lower.startswith(prefix):
            extra = dockerfile[len(prefix) :]
    for suffix in (".dockerfile", ".containerfile"):
        if lower.endswith(suffix):
            extra = dockerfile[: -len(suffix)]
    parts = ["requirements", extra, stage or "", "lock.txt"]
    return ".".join(part for part in parts if part)


class PythonDependencies:
    kind: ClassVar[str] = KIND

    def propose(self, view: EntryView, settings: FixSettings, progress: Progress) -> Iterable[Change | Note]:
        results: list[Change | Note] = []
        for target in view.targets:
            if target.dockerfile is None:
                continue
            try:
                results.extend(_Target(view, target, target.dockerfile, settings, progress).propose())
            except _Skip as skip:
                results.append(skip.note)
        return results


class _Skip(Exception):
    """Nothing changes for this target: the note says why."""

    def __init__(self, note: Note) -> None:
        super().__init__(note.message)
        self.note = note


@dataclass
class _Foreign:
    """A package from an index without upload times (the PyTorch index), installed before the lock."""

    name: str
    spec: str  # what the foreign install is given ("torch==2.1.0+cu118"); unpinned when no version is known
    version: str | None
    options: list[str]  # the index options of the install that named it
    line: int  # where it is named, for a note


@dataclass
class _Use:
    use: InstallUse
    prefix: list[str]  # the program words up to and including `install`, as written
    kept: list[str]  # kept options, as argv words
    span: Span
    specs: dict[str, str]  # package word -> the requirement meant (an unquoted `>=` redirect folded back in)
    after: list[str] = field(default_factory=list)  # VCS (pinned) and local requirements, installed after the lock
    after_vcs: bool = False


@dataclass
class _FileLine:
    path: str
    line: int
    graded: Graded


class _Target:
    def __init__(
        self, view: EntryView, target: TargetView, dockerfile: DockerfileView, settings: FixSettings, progress: Progress
    ) -> None:
        self.view = view
        self.target = target
        self.dockerfile = dockerfile
        self.path = target.target.dockerfile
        self.settings = settings
        self.progress = progress
        self.uses = [use for use in view.installs if use.target is target]

    def note(self, message: str, line: int | None = None, path: str | None = None) -> Note:
        return Note(KIND, path or self.path, line, message)

    def propose(self) -> Iterator[Change | Note]:
        conda = [use for use in self.uses if use.install.installer in CONDA_INSTALLERS]
        if conda:
            yield self.note(
                "conda installs are not locked by fix: pin them by hand (`conda env export` in the built image)",
                conda[0].line,
            )
        stages = sorted({use.step.instruction.stage for use in self.uses if use.install.installer in PIP_INSTALLERS})
        for stage in stages:
            try:
                yield from self.stage_change(stage, several=len(stages) > 1)
            except _Skip as skip:
                yield skip.note

    # ---- one stage ------------------------------------------------------------------------------------

    def stage_change(self, stage: int, several: bool) -> list[Change | Note]:
        uses = [
            use for use in self.uses if use.step.instruction.stage == stage and use.install.installer in PIP_INSTALLERS
        ]
        text = self.view.tree.read_text(self.path)
        if text is None:
            raise _Skip(self.note("the Dockerfile cannot be read as text: fix reads nothing it cannot edit"))
        source = SourceText(self.path, text.text)
        caveats: list[str] = []
        resolves: list[Resolves] = []
        requirements: list[str] = []
        constraints: list[str] = []
        extra_indexes: list[str] = []
        foreign: list[_Foreign] = []
        parsed_uses: list[_Use] = []
        ends: dict[int, int] = {}  # per instruction, where the last install found ends: the next is after it
        for use in uses:
            parsed_use = self.parse_use(source, use, ends.get(use.step.instruction.start, 0))
            ends[use.step.instruction.start] = parsed_use.span.end
            parsed_uses.append(parsed_use)
        file_lines: list[_FileLine] = []  # requirement-file lines this stage may pin in place

        for parsed in parsed_uses:
            install = parsed.use.install
            # only the PyTorch index (`--index-url`): every package comes from it; as an extra index, the
            # PyTorch family and local versions do
            only_pytorch = any(
                name in ("-i", "--index-url") and PYTORCH_INDEX_HOST in (value or "")
                for name, value, _words in _pairs(parsed.kept)
            )
            extra_pytorch = any(PYTORCH_INDEX_HOST in url for url in install.index_urls)
            extra_indexes += [
                url for url in install.index_urls if PYTORCH_INDEX_HOST not in url and url != self.settings.index_url
            ]
            if install.no_build_isolation:
                caveats.append(
                    f"line {parsed.use.line} installed with --no-build-isolation: its packages now build during "
                    "the locked install, so what they build against must come from the base image or an earlier "
                    "RUN"
                )
            for graded in install.packages:
                spec = parsed.specs.get(graded.text, graded.text)
                if graded.text.startswith(VCS_SCHEMES) or graded.pin in (Pin.VCS_MUTABLE, Pin.VCS_COMMIT):
                    pinned = self.pin_vcs(graded, parsed.use.line)
                    requirements.append(_named(graded.name, pinned))
                    parsed.after.append(("-e " if graded.editable else "") + pinned)
                    parsed.after_vcs = True
                    continue
                if graded.name is None or graded.pin in (Pin.LOCAL, Pin.URL, Pin.URL_HASHED, Pin.INVALID):
                    parsed.after.append(("-e " if graded.editable else "") + graded.text)
                    caveats.append(
                        f"{graded.text} is installed after the lock as written: fix does not lock what it depends on"
                    )
                    continue
                version = _exact_version(spec)
                family = extra_pytorch and canonicalize_name(graded.name) in PYTORCH_FAMILY
                if only_pytorch or family or (version is not None and "+" in version):
                    foreign.append(self.foreign(graded.name, spec, version, parsed, stage))
                    continue
                requirements.append(spec)
            for path, kind in self.files_read(parsed.use):
                parsed_file = self.view._parse_dependency_file(path, kind)  # the view's own parse, memo-free
                if parsed_file is None:
                    continue
                file_from_pytorch = any(
                    PYTORCH_INDEX_HOST in value
                    for option in parsed_file.options
                    if option.name in ("index_url", "extra_index_urls")
                    for value in option.values
                )
                extra_indexes += [
                    value
                    for option in parsed_file.options
                    if option.name == "extra_index_urls"
                    for value in option.values
                    if PYTORCH_INDEX_HOST not in value
                ]
                self.collect_file(
                    path, kind, parsed_file, parsed, file_from_pytorch, stage, requirements, constraints, foreign
                )
                file_lines += [_FileLine(path, line.line, line.graded) for line in parsed_file.requirements]

        base_torch = self.base_torch(stage)
        for item in foreign:
            if item.version is not None:
                constraints.append(f"{item.name}=={_public(item.version)}")
        if base_torch is not None and not any(canonicalize_name(f.name) == "torch" for f in foreign):
            constraints.append(f"torch=={base_torch}")
        pinned_foreign = [f for f in foreign if f.version is not None]
        if pinned_foreign:
            caveats.append(
                "pinned to the version the entry names or its base image ships, installed from their own index "
                "before the lock (that index has no upload dates, so they are not resolved as of the cut-off "
                "and their own dependencies come unpinned from it): " + ", ".join(f.spec for f in pinned_foreign)
            )
        unpinnable = [f for f in foreign if f.version is None]

        python, python_caveat = self.python_version(stage)
        if python_caveat:
            caveats.append(python_caveat)
        leave_out = {str(canonicalize_name(f.name)) for f in foreign}  # installed from their own index
        lock_text, versions = self.resolve(requirements, constraints, extra_indexes, stage, python, leave_out)
        lock_path, lock_name = self.lock_location(stage, several)
        has_lock = bool(versions)
        container_lock = f"{LOCK_FOLDER}/{lock_name}"

        edits: list[Edit] = []
        first_run = min(parsed_uses, key=lambda p: p.use.step.instruction.start).use.step.instruction
        relative_lock = self.target.context.relative(lock_path)
        if has_lock:
            if relative_lock is None:
                raise _Skip(self.note("the lock file would lie outside the build context", first_run.start))
            at = source.offset(first_run.start)
            edits.append(Edit(self.path, at, at, f"COPY {relative_lock} {container_lock}\n"))
            if self.target.context.dockerignored(lock_path):
                caveats.append(f".dockerignore excludes {relative_lock}: add the line `!{relative_lock}` to it")
        for index, parsed in enumerate(parsed_uses):
            commands: list[str] = []
            if index == 0:
                groups: dict[tuple[str, ...], list[str]] = {}
                for item in foreign:
                    groups.setdefault(tuple(item.options), []).append(item.spec)
                for options, specs in groups.items():
                    commands.append(_join([*parsed.prefix, *_without_index(parsed.kept), *options, *specs]))
            lock_options = [w for w in _without_pytorch(parsed.kept)]
            if has_lock:
                commands.append(_join([*parsed.prefix, *lock_options, "--require-hashes", "-r", container_lock]))
            if parsed.after:
                words = [w for item in parsed.after for w in (item.split(" ", 1) if item.startswith("-e ") else [item])]
                no_deps = ["--no-deps"] if parsed.after_vcs and has_lock else []
                commands.append(_join([*parsed.prefix, *lock_options, *no_deps, *words]))
            if not commands:
                commands.append("true")  # everything it installed now comes from the first install of the stage
            new = " && ".join(commands)
            if len(commands) > 1 and self.needs_grouping(parsed.use):
                new = "{ " + new + "; }"
            edits.append(Edit(self.path, parsed.span.start, parsed.span.end, new))
            resolves += self.command_resolves(parsed, foreign)

        file_edits, file_resolves = self.pin_files(file_lines, versions, foreign)
        edits += file_edits
        resolves += file_resolves
        notes: list[Change | Note] = [
            self.note(
                f"{item.name} could not be pinned: it comes from the PyTorch index, which has no upload dates, and "
                f"neither the Dockerfile nor its base image names its version; pin it (e.g. {item.name}==2.1.0+cu118)",
                item.line,
            )
            for item in unpinnable
        ]
        new_files = (NewFile(lock_path, lock_text),) if has_lock else ()
        stage_name = f" (stage {self.stage_label(stage)})" if several else ""
        summary = (
            f"{self.path}{stage_name}: {len(versions)} Python packages locked with hashes as of "
            f"{_iso(self.settings)} in {lock_path}"
            if has_lock
            else f"{self.path}{stage_name}: pip installs pinned"
        )
        return [
            *notes,
            Change(
                KIND,
                summary,
                edits=tuple(sorted(edits, key=lambda e: (e.path, e.start))),
                new_files=new_files,
                resolves=tuple(dict.fromkeys(resolves)),
                caveats=tuple(dict.fromkeys(caveats)),
            ),
        ]

    # ---- reading the installs ------------------------------------------------------------------------

    def parse_use(self, source: SourceText, use: InstallUse, after: int) -> _Use:
        argv = use.command.argv
        try:
            install_at = argv.index("install")
        except ValueError:
            raise _Skip(self.note("a pip command without `install` where one was expected", use.line)) from None
        span, specs = self.command_span(source, use, after)
        if span is None:
            raise _Skip(
                self.note(
                    "this pip install cannot be found word by word in the Dockerfile (built by the shell, or "
                    "in exec form): write it as a plain shell-form RUN and run fix again",
                    use.line,
                )
            )
        return _Use(use, argv[: install_at + 1], _kept_options(argv[install_at + 1 :]), span, specs)

    def command_span(self, source: SourceText, use: InstallUse, after: int) -> tuple[Span | None, dict[str, str]]:
        """The command's characters, with the unquoted `>=1.0` redirections it carries (RA204) included,
        and for each package word followed by one, the requirement it was meant to be."""
        command = use.command
        versionish = [(op, dest) for op, dest in command.redirects if VERSIONISH.match(dest)]
        if not versionish:
            return source.command_span(use.step.instruction, command, after), {}
        between = rf"(?:{SEPARATOR}|[ \t]*{REDIRECT_IN_COMMAND})+"
        words = [_word_next_to_redirect(word) for word in command.argv]
        pattern = between.join(words) + rf"(?:[ \t]*{REDIRECT_IN_COMMAND})*"
        span = source.find(pattern, source.instruction_span(use.step.instruction, after))
        specs: dict[str, str] = {}
        if span is not None:
            written = source.text[span.start : span.end]
            for match in re.finditer(r"([^\s'\"<>]+)((?:>>|>|<)=?[=~]?)[ \t]*([0-9][0-9A-Za-z.*+!-]*)", written):
                operator = match.group(2).replace(">>", ">")
                specs[match.group(1)] = f"{match.group(1)}{operator}{match.group(3)}"
        return span, specs

    def needs_grouping(self, use: InstallUse) -> bool:
        """Several commands joined by `&&` replace one: braces keep `a || pip install x` meaning what it did."""
        commands = use.step.commands
        position = next(i for i, cmd in enumerate(commands) if cmd is use.command)
        before = commands[position - 1].joined_by if position > 0 else None
        return use.command.joined_by in ("||", "|") or before in ("||", "|") or use.command.piped_from is not None

    def files_read(self, use: InstallUse) -> list[tuple[str, str]]:
        """The requirement and constraint files this install reads (entry paths), nested ones included."""
        found: dict[str, str] = {}
        queue = [(p, "requirements") for p in use.install.requirement_files]
        queue += [(p, "constraints") for p in use.install.constraint_files]
        pending: list[tuple[str, str]] = []
        for container_path, kind in queue:
            if "$" in container_path or "://" in container_path:
                continue
            # the view maps container paths back through COPY; it is the one place that knows how
            entry_path = self.view._context_file_for(use, container_path)
            if entry_path is not None and entry_path in self.view.tree.files:
                pending.append((entry_path, kind))
        while pending:
            path, kind = pending.pop(0)
            if path in found:
                continue
            found[path] = kind
            parsed = self.view._parse_dependency_file(path, kind)
            for option, nested in parsed.nested() if parsed is not None else ():
                nested_path = posixpath.normpath(posixpath.join(posixpath.dirname(path), nested))
                if nested_path in self.view.tree.files:
                    pending.append((nested_path, "constraints" if option.name == "constraints" else "requirements"))
        return list(found.items())

    def collect_file(
        self,
        path: str,
        kind: str,
        parsed_file: RequirementFile,
        parsed: _Use,
        from_pytorch: bool,
        stage: int,
        requirements: list[str],
        constraints: list[str],
        foreign: list[_Foreign],
    ) -> None:
        into = constraints if kind == "constraints" else requirements
        for line in parsed_file.requirements:
            graded = line.graded
            if graded.pin in (Pin.VCS_MUTABLE, Pin.VCS_COMMIT):
                pinned = self.pin_vcs(graded, line.line, path)
                into.append(_named(graded.name, pinned))
                if kind != "constraints":  # pip installs what a requirement file names, not what constrains
                    parsed.after.append(("-e " if graded.editable else "") + pinned)
                    parsed.after_vcs = True
                continue
            if graded.name is None or graded.pin in (Pin.LOCAL, Pin.URL, Pin.INVALID):
                if kind != "constraints":
                    parsed.after.append(("-e " if graded.editable else "") + graded.text)
                continue
            version = _exact_version(graded.text)
            if (from_pytorch and canonicalize_name(graded.name) in PYTORCH_FAMILY) or (
                version is not None and "+" in version
            ):
                if kind != "constraints":
                    foreign.append(self.foreign(graded.name, graded.text, version, parsed, stage, path))
                continue
            into.append(graded.text)

    def foreign(
        self, name: str, spec: str, version: str | None, parsed: _Use, stage: int, file: str | None = None
    ) -> _Foreign:
        options = [w for w in _index_options(parsed.kept)]
        if file is not None:
            parsed_file = self.view._parse_dependency_file(file, "requirements")
            for option in parsed_file.options if parsed_file is not None else ():
                flag = {"index_url": "--index-url", "extra_index_urls": "--extra-index-url"}.get(option.name)
                for value in option.values if flag else ():
                    options += [str(flag), value]
        if version is None and canonicalize_name(name) == "torch":
            version = self.base_torch(stage)
        if version is not None:
            try:
                requirement = Requirement(spec)
                extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
                spec = f"{requirement.name}{extras}=={version}"
            except InvalidRequirement:
                spec = f"{name}=={version}"
        return _Foreign(name, spec, version, options, parsed.use.line)

    def pin_vcs(self, graded: Graded, line: int, path: str | None = None) -> str:
        """`git+URL@<commit>` for a VCS requirement: the commit its ref had at the cut-off."""
        text = graded.text
        if graded.pin is Pin.VCS_COMMIT:
            return text
        location, hash_sign, fragment = text.partition("#")
        scheme, _, rest = location.partition("+")
        head, at, ref = rest.rpartition("@")
        url = head if at and "/" not in ref and ":" not in ref else rest
        if url is rest:
            ref = ""
        try:
            from audit.fix.git_sources import GitResolveError, commit_at
        except ImportError:  # the git resolver is not installed: say so rather than fail
            raise _Skip(self.note(f"cannot pin {text}: audit.fix.git_sources is missing", line, path)) from None
        try:
            commit = commit_at(url, ref or None, self.settings.cutoff, self.settings.cache_dir, self.settings.timeout)
        except GitResolveError as exc:
            raise _Skip(self.note(f"cannot pin {text}: {exc}", line, path)) from None
        return f"{scheme}+{url}@{commit}{hash_sign}{fragment}"

    # ---- what the image tells ----------------------------------------------------------------------

    def stage_of(self, index: int) -> Stage | None:
        return next((s for s in self.dockerfile.stages if s.index == index), None)

    def base_of(self, index: int) -> str | None:
        """The image a stage starts from, following `FROM <earlier stage>`."""
        stage = self.stage_of(index)
        seen = 0
        while stage is not None and stage.base_is_stage and seen < len(self.dockerfile.stages):
            seen += 1
            stage = next((s for s in self.dockerfile.stages if s.alias and s.alias.lower() == stage.base.lower()), None)
        return stage.base if stage is not None else None

    def base_torch(self, index: int) -> str | None:
        base = self.base_of(index)
        match = PYTORCH_IMAGE.search(base or "")
        return match.group(1) if match else None

    def stage_label(self, index: int) -> str:
        stage = self.stage_of(index)
        return stage.alias if stage is not None and stage.alias else f"stage{index + 1}"

    def python_version(self, index: int) -> tuple[str, str | None]:
        """The Python the stage's packages are resolved for, and a caveat when it is not the image's own."""
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        base = self.base_of(index)
        match = PYTHON_IMAGE.search(base or "")
        if match:
            wanted, source = match.group(1), f"the base image {base}"
        elif self.settings.python_version:
            wanted, source = self.settings.python_version, "--python-version"
        elif self.view.config.python_version:
            wanted, source = self.view.config.python_version, "python-version in the entry's [tool.repro-audit]"
        else:
            return running, (
                f"the base image ({base or 'unknown'}) does not tell its Python: resolved for Python {running} "
                "(the interpreter running fix); give --python-version if the image has another"
            )
        if wanted != running:
            return running, (
                f"resolved for Python {running} (pip-compile resolves for the interpreter it runs on) while "
                f"{source} says Python {wanted}: run fix with Python {wanted} if a dependency differs by version"
            )
        return running, None

    # ---- resolution ----------------------------------------------------------------------------------

    def resolve(
        self,
        requirements: list[str],
        constraints: list[str],
        extra_indexes: list[str],
        stage: int,
        python: str,
        leave_out: set[str],
    ) -> tuple[str, dict[str, str]]:
        """The lock's text and the locked versions by canonical name; empty when nothing is to be locked."""
        requirements = list(dict.fromkeys(requirements))
        if not requirements:
            return "", {}
        where = self.path if len(self.dockerfile.stages) < 2 else f"{self.path} (stage {self.stage_label(stage)})"
        self.progress(
            f"resolving {len(requirements)} requirements of {where} with pip-compile as of {_iso(self.settings)}"
        )
        with tempfile.TemporaryDirectory(prefix="repro-audit-pip-") as scratch:
            folder = Path(scratch)
            (folder / "constraints.txt").write_text("".join(f"{c}\n" for c in constraints), encoding="utf-8")
            (folder / "requirements.in").write_text(
                "-c constraints.txt\n" + "".join(f"{r}\n" for r in requirements), encoding="utf-8"
            )
            argv = [
                sys.executable, "-m", "piptools", "compile", "--generate-hashes", "--allow-unsafe", "--no-header",
                "--no-annotate", "--no-emit-options", "--no-strip-extras", "--rebuild", "--verbose",
                "--index-url", self.settings.index_url,
                *[word for url in dict.fromkeys(extra_indexes) for word in ("--extra-index-url", url)],
                "--cache-dir", str(folder / "cache"), "--output-file", "lock.txt",
                "--pip-args", f"--uploaded-prior-to {_iso(self.settings)}",
                "requirements.in",
            ]  # fmt: skip
            result = run_captured(argv, timeout=self.settings.timeout, env=_clean_environment(), cwd=folder)
            lock = folder / "lock.txt"
            if result.exit_code != 0 or not lock.exists():
                first = min(self.uses, key=lambda u: u.line).line if self.uses else None
                raise _Skip(self.note(self.explain_failure(result.stdout, result.stderr, result), first))
            compiled = lock.read_text(encoding="utf-8")
        blocks, versions = _lock_blocks(compiled, leave_out)
        header = (
            f"# The Python packages {where} installs, locked by repro-audit fix with pip-compile --generate-hashes\n"
            f"# against {shown_url(self.settings.index_url)} as of {_iso(self.settings)} (Python {python}).\n"
        )
        return header + "".join(blocks), versions

    def explain_failure(self, stdout: str, stderr: str, result: object) -> str:
        if getattr(result, "timed_out", False):
            return (
                f"pip-compile did not finish within {self.settings.timeout:.0f} s; nothing was changed for this "
                "Dockerfile: try again with a longer --timeout"
            )
        if getattr(result, "error", None):
            return f"pip-compile could not start ({getattr(result, 'error', '')}): install pip-tools"
        output = stdout + "\n" + stderr
        cutoff = _iso(self.settings)
        missing = re.findall(r"(?:No matching distribution found for|satisfies the requirement) ([^\s(]+)", output)
        conflicts = re.findall(
            r"requirement=\w+\('([^']*)'\), parent=(?:None|\w+\('([^' ]*)(?: \(from [^)]*\))?'\))", output
        )
        if conflicts and "ResolutionImpossible" in output and not missing:
            said = "; ".join(f"{req} (wanted by {_candidate(parent)})" for req, parent in dict.fromkeys(conflicts))
            return (
                f"pip-compile found no set of versions as of {cutoff} that satisfies every requirement: "
                f"{said}; nothing was changed for this Dockerfile: loosen or align these pins"
            )
        if missing:
            names = ", ".join(dict.fromkeys(missing))
            return (
                f"no version of {names} on {shown_url(self.settings.index_url)} was uploaded before {cutoff} (or it is not "
                "there at all); nothing was changed for this Dockerfile: check the name, or give a later --as-of"
            )
        lines = [line.strip() for line in output.splitlines() if re.search(r"error|Error|ERROR", line)]
        said = lines[-1] if lines else "no message"
        return f"pip-compile failed: {said}; nothing was changed for this Dockerfile"

    # ---- edits ---------------------------------------------------------------------------------------

    def lock_location(self, stage: int, several: bool) -> tuple[str, str]:
        """The lock's entry path and file name: beside the Dockerfile, or in the context root."""
        name = lock_name(posixpath.basename(self.path), self.stage_label(stage) if several else None)
        beside = posixpath.join(posixpath.dirname(self.path), name)
        if self.target.context.relative(beside) is not None:
            return beside, name
        return self.target.context.join(name), name  # a Dockerfile outside its context: the context's root

    def command_resolves(self, parsed: _Use, foreign: list[_Foreign]) -> list[Resolves]:
        install, instruction = parsed.use.install, parsed.use.step.instruction
        unpinned_foreign = {canonicalize_name(f.name) for f in foreign if f.version is None}
        found: list[Resolves] = []
        for graded in install.packages:
            if graded.pin is Pin.VCS_MUTABLE:
                found.append(Resolves("RA203", self.path, instruction.line_of(graded.text[:40])))
            elif unpinned(graded) and not (graded.name and canonicalize_name(graded.name) in unpinned_foreign):
                rule = "RA202" if install.upgrade else "RA201"
                found.append(Resolves(rule, self.path, instruction.line_of(graded.text)))
        for operator, destination in parsed.use.command.redirects:
            if operator in (">", "<", ">>") and VERSIONISH.match(destination):
                found.append(Resolves("RA204", self.path, instruction.line_of(f"{operator}{destination}")))
        return found

    def pin_files(
        self, lines: list[_FileLine], versions: dict[str, str], foreign: list[_Foreign]
    ) -> tuple[list[Edit], list[Resolves]]:
        """Unpinned lines of the files this stage reads become `name==<locked version>`, in place. A file
        read by several builds is edited by the one the view assigns it to, so changes never overlap."""
        known = dict(versions)
        for item in foreign:
            if item.version is not None:
                known.setdefault(canonicalize_name(item.name), item.version)
        owner = {reached.path: reached.target for reached in self.view.dependency_files}
        edits: list[Edit] = []
        resolves: list[Resolves] = []
        for path, number, graded in dict.fromkeys((line.path, line.line, line.graded) for line in lines):
            if owner.get(path) != self.path or not unpinned(graded) or graded.name is None:
                continue
            version = known.get(canonicalize_name(graded.name))
            text = self.view.tree.read_text(path)
            if version is None or text is None:
                continue
            source = SourceText(path, text.text)
            span = source.find(re.escape(graded.text), source.lines_span(number, number))
            if span is None:
                continue
            edits.append(Edit(path, span.start, span.end, _pinned(graded.text, version)))
            resolves.append(Resolves("RA301", path, number))
        return edits, resolves


# ---- helpers -------------------------------------------------------------------------------------------


def _iso(settings: FixSettings) -> str:
    return settings.cutoff.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean_environment() -> dict[str, str]:
    """This process's environment without pip's settings: no machine-wide index or find-links may leak."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def _kept_options(args: list[str]) -> list[str]:
    """The options of `pip install ARGS` that stay on the rewritten command, as argv words."""
    kept: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        index += 1
        if not word.startswith("-") or word == "-":
            continue
        name, eq, _value = word.partition("=") if word.startswith("--") else (word, "", "")
        if re.fullmatch(r"-[a-zA-Z]{2,}", word) and word[:2] not in KEPT_VALUE_OPTIONS | DROPPED_VALUE_OPTIONS:
            flags = [f"-{letter}" for letter in word[1:] if f"-{letter}" in KEPT_FLAGS]  # "-qU" keeps "-q"
            kept.extend(flags)
            continue
        takes_value = name in KEPT_VALUE_OPTIONS or name in DROPPED_VALUE_OPTIONS
        joined_short = (
            not word.startswith("--") and len(word) > 2 and word[:2] in KEPT_VALUE_OPTIONS | DROPPED_VALUE_OPTIONS
        )
        if joined_short:  # "-rrequirements.txt", "-fwheels"
            if word[:2] in KEPT_VALUE_OPTIONS:
                kept += [word[:2], word[2:]]
            continue
        if takes_value and not eq and index < len(args):
            value = args[index]
            index += 1
            if name in KEPT_VALUE_OPTIONS:
                kept += [name, value]
            continue
        if name in KEPT_FLAGS or (takes_value and name in KEPT_VALUE_OPTIONS):
            kept.append(word)
    return kept


def _pairs(options: list[str]) -> Iterator[tuple[str, str | None, list[str]]]:
    """Kept options as (name, value, words) groups."""
    index = 0
    while index < len(options):
        word = options[index]
        name, eq, value = word.partition("=")
        if not eq and word in KEPT_VALUE_OPTIONS and index + 1 < len(options):
            yield word, options[index + 1], options[index : index + 2]
            index += 2
        else:
            yield name, value if eq else None, [word]
            index += 1


def _index_options(options: list[str]) -> list[str]:
    return [w for name, _value, words in _pairs(options) if name in INDEX_OPTIONS for w in words]


def _without_index(options: list[str]) -> list[str]:
    return [w for name, _value, words in _pairs(options) if name not in INDEX_OPTIONS for w in words]


def _without_pytorch(options: list[str]) -> list[str]:
    return [
        w
        for name, value, words in _pairs(options)
        if not (name in INDEX_OPTIONS and PYTORCH_INDEX_HOST in (value or ""))
        for w in words
    ]


def _word_next_to_redirect(word: str) -> str:
    """One shell word, bare or quoted, that may be followed directly by an unquoted `>=1.0` (RA204)."""
    escaped = re.escape(word)
    bare = r"(?<![^\s\\;&|(])" + escaped + r"(?![^\s;&|)<>])"
    return f"(?:{bare}|'{escaped}'|\"{escaped}\")"


def _join(words: list[str]) -> str:
    return " ".join(_quote(word) for word in words)


def _quote(word: str) -> str:
    """A shell word as the shell should see it again: a word holding `$` keeps its expansion (double
    quotes, so it is still one word), any other is quoted only if it needs to be."""
    if "$" in word:
        return '"' + re.sub(r'(["\\`])', r"\\\1", word) + '"'
    return shlex.quote(word)


def _named(name: str | None, url: str) -> str:
    """A VCS requirement as pip-compile takes it: `name @ git+URL` when the name is known."""
    return f"{name} @ {url}" if name and not url.startswith(f"{name} @") else url


def _exact_version(spec: str) -> str | None:
    try:
        requirement = Requirement(spec)
    except InvalidRequirement:
        return None
    exact = [s.version for s in requirement.specifier if s.operator in ("==", "===") and "*" not in s.version]
    return exact[0] if exact else None


def _public(version: str) -> str:
    return version.split("+", 1)[0]


def _pinned(text: str, version: str) -> str:
    """`name[extras]==version; marker` for a requirement, keeping its extras and marker as written."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?", text)
    head = f"{match.group(1)}{match.group(2) or ''}" if match else text.split(";", 1)[0].strip()
    marker = ";" + text.split(";", 1)[1] if ";" in text else ""
    return f"{head}=={version}{marker}"


def _candidate(parent: str) -> str:
    """`gamma 1.0` for a parent such as `http://host/files/gamma-1.0-py3-none-any.whl`; "the entry" for None."""
    if not parent:
        return "the entry"
    file_name = parent.rstrip("/").rsplit("/", 1)[-1].split("#", 1)[0]
    match = re.match(r"([A-Za-z0-9_.]+?)-([0-9][^-]*?)(?:-|\.tar\.gz$|\.zip$)", file_name)
    return f"{match.group(1)} {match.group(2)}" if match else file_name


def _lock_blocks(compiled: str, leave_out: set[str]) -> tuple[list[str], dict[str, str]]:
    """pip-compile's output cut into one block per package, without the VCS and local ones (pip refuses
    them in hash-checking mode; they are installed after the lock), and the versions by canonical name."""
    blocks: list[str] = []
    versions: dict[str, str] = {}
    current: list[str] = []

    def finish() -> None:
        if not current:
            return
        head = current[0]
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)", head)
        if match and canonicalize_name(match.group(1)) not in leave_out:
            versions[canonicalize_name(match.group(1))] = match.group(3)
            blocks.append("".join(current))
        current.clear()

    for line in compiled.splitlines(keepends=True):
        if line[:1].isspace():
            if current:
                current.append(line)
            continue
        finish()
        if line.strip() and not line.startswith("#"):
            current.append(line)
    finish()
    return blocks, versions
