"""A parsed view of one Dockerfile that every Dockerfile rule shares.

dockerfile-parse does the line-level work (instructions, continuation lines, comments inside
continuations, 0-based line spans). It predates BuildKit heredocs and silently drops an instruction
whose continuation runs past the end of the file, so a pre-pass here cuts heredoc bodies out (keeping
line numbers) and reports the two syntax errors it would hide. On top of that this module knows
stages and their aliases, resolves `ARG` defaults in `FROM`, splits `COPY`/`ADD` arguments, and turns
each `RUN` into shell commands (`audit.views.shell`) plus the Python snippets it runs (`python -c`,
`python <<EOF`).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from dockerfile_parse import DockerfileParser

from audit.views.shell import SimpleCommand, split_commands, split_script_lines

KNOWN_INSTRUCTIONS = frozenset(
    {
        "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
        "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    }
)  # fmt: skip
HEREDOC_MARKER = re.compile(r"(?<![<\w])<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2(?!<)")
HEREDOC_INSTRUCTION = re.compile(r"^\s*(RUN|COPY|ADD)\s", re.IGNORECASE)
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
PYTHON_PROGRAM = re.compile(r"^python[0-9.]*$")


@dataclass(frozen=True)
class Heredoc:
    delimiter: str
    body: str
    first_line: int  # 1-based line of the body's first line
    terminated: bool


@dataclass
class Instruction:
    keyword: str
    value: str  # continuation lines joined, as dockerfile-parse gives it
    start: int  # 1-based
    end: int  # 1-based, inclusive
    raw: tuple[str, ...]  # the original lines start..end
    stage: int  # index of the stage it belongs to (-1 before the first FROM)
    flags: dict[str, str] = field(default_factory=dict)
    rest: str = ""  # the value after the leading --flags
    heredocs: tuple[Heredoc, ...] = ()

    def line_of(self, needle: str) -> int:
        """The line of this instruction where `needle` first shows as a whole word (its start when not found)."""
        if needle:
            word = re.compile(r"(?<![\w.\-/])" + re.escape(needle) + r"(?![\w.\-])")
            for offset, text in enumerate(self.raw):
                if word.search(text):
                    return self.start + offset
        for offset, text in enumerate(self.raw):
            if needle and needle in text:
                return self.start + offset
        for doc in self.heredocs:
            for offset, text in enumerate(doc.body.splitlines()):
                if needle and needle in text:
                    return doc.first_line + offset
        return self.start

    def words(self) -> list[str]:
        """Arguments of COPY/ADD/VOLUME-like instructions: JSON array form or whitespace-separated."""
        text = self.rest.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
                return parsed
        return text.split()


@dataclass
class Stage:
    index: int
    instruction: Instruction
    base_raw: str  # the image reference as written
    base: str  # with ARG defaults substituted
    alias: str | None
    base_is_stage: bool  # FROM refers to an earlier stage's alias
    unresolved: tuple[str, ...]  # ARG names used in FROM that have no default


@dataclass
class PythonSnippet:
    code: str
    line: int
    how: str  # "python -c" or "python heredoc"


@dataclass
class RunStep:
    instruction: Instruction
    commands: list[SimpleCommand]
    python: list[PythonSnippet]
    exec_form: bool


@dataclass
class DockerfileView:
    path: str
    lines: tuple[str, ...]
    instructions: list[Instruction]
    stages: list[Stage]
    global_args: dict[str, str | None]
    syntax_errors: list[tuple[int, str]]
    unknown_instructions: int = 0  # misspelled or made-up keywords: reported, left out of `instructions`
    _runs: list[RunStep] | None = None

    @property
    def is_empty(self) -> bool:
        """No instruction at all, only blank lines and comments (an unknown instruction is still one)."""
        return not self.instructions and not self.unknown_instructions

    def of(self, *keywords: str) -> Iterator[Instruction]:
        for ins in self.instructions:
            if ins.keyword in keywords:
                yield ins

    def runs(self) -> list[RunStep]:
        if self._runs is None:
            self._runs = [_run_step(ins) for ins in self.of("RUN")]
        return self._runs

    def commands(self) -> Iterator[tuple[RunStep, SimpleCommand]]:
        for step in self.runs():
            for cmd in step.commands:
                yield step, cmd

    def final_command(self) -> list[str]:
        """The argv of the last stage's CMD/ENTRYPOINT combined (what the container runs)."""
        last = self.stages[-1].index if self.stages else -1
        entry: list[str] = []
        cmd: list[str] = []
        for ins in self.instructions:
            if ins.stage != last:
                continue
            if ins.keyword in ("CMD", "ENTRYPOINT"):
                words = ins.words() if ins.rest.strip().startswith("[") else [ins.rest]
                if ins.keyword == "CMD":
                    cmd = words
                else:
                    entry = words
        return entry + cmd


def parse_dockerfile(path: str, text: str) -> DockerfileView:
    lines = tuple(text.splitlines())
    masked, heredocs, errors = _cut_heredocs(list(lines))
    _strip_dangling_continuation(masked, errors)
    parser = DockerfileParser(fileobj=io.BytesIO("\n".join(masked).encode("utf-8")))
    structure = parser.structure
    instructions: list[Instruction] = []
    unknown = 0
    stage = -1
    for item in sorted(structure, key=lambda s: s["startline"]):
        keyword = item["instruction"].upper()
        if keyword == "COMMENT":
            continue
        start, end = item["startline"] + 1, item["endline"] + 1
        if keyword not in KNOWN_INSTRUCTIONS:
            errors.append((start, f"unknown instruction {item['instruction']!r}: Docker stops the build here"))
            unknown += 1
            continue
        if keyword == "FROM":
            stage += 1
        elif stage < 0 and keyword != "ARG":
            errors.append((start, f"{keyword} before the first FROM: only ARG may come before FROM"))
        flags, rest = _split_flags(item["value"])
        instructions.append(
            Instruction(
                keyword=keyword,
                value=item["value"],
                start=start,
                end=end,
                raw=lines[start - 1 : end],
                stage=stage,
                flags=flags,
                rest=rest,
                heredocs=tuple(heredocs.get(start, ())),
            )
        )
    global_args = _global_args(instructions)
    stages = _stages(instructions, global_args)
    if instructions and not stages:
        errors.append((instructions[0].start, "no FROM instruction: this is not a buildable Dockerfile"))
    errors.sort()
    return DockerfileView(path, lines, instructions, stages, global_args, errors, unknown)


def _cut_heredocs(lines: list[str]) -> tuple[list[str], dict[int, list[Heredoc]], list[tuple[int, str]]]:
    masked = list(lines)
    found: dict[int, list[Heredoc]] = {}
    errors: list[tuple[int, str]] = []
    index, continuing = 0, False
    while index < len(lines):
        line = lines[index]
        markers = HEREDOC_MARKER.findall(line) if not continuing and HEREDOC_INSTRUCTION.match(line) else []
        if not markers:
            stripped = line.strip()
            continuing = stripped.endswith("\\") and not stripped.startswith("#")
            index += 1
            continue
        cursor = index + 1
        docs: list[Heredoc] = []
        for dash, _quote, word in markers:
            body: list[str] = []
            first = cursor + 1
            while cursor < len(lines) and (lines[cursor].lstrip("\t") if dash else lines[cursor]) != word:
                body.append(lines[cursor])
                cursor += 1
            terminated = cursor < len(lines)
            docs.append(Heredoc(word, "\n".join(body), first, terminated))
            if not terminated:
                errors.append((index + 1, f"heredoc <<{word} is never closed: no line reads {word!r}"))
                break
            cursor += 1
        for blank in range(index + 1, min(cursor, len(lines))):
            masked[blank] = ""
        found[index + 1] = docs
        index = cursor
        continuing = False
    return masked, found, errors


def _strip_dangling_continuation(masked: list[str], errors: list[tuple[int, str]]) -> None:
    for number in range(len(masked) - 1, -1, -1):
        stripped = masked[number].strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            errors.append((number + 1, "the file ends inside a continued line (trailing '\\'): the build fails"))
            masked[number] = masked[number].rstrip().rstrip("\\")
        return


def _split_flags(value: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    rest = value.strip()
    while rest.startswith("--"):
        word, _, remainder = rest.partition(" ")
        name, _, flag_value = word[2:].partition("=")
        flags[name.lower()] = flag_value
        rest = remainder.lstrip()
    return flags, rest


def _global_args(instructions: list[Instruction]) -> dict[str, str | None]:
    args: dict[str, str | None] = {}
    for ins in instructions:
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG":
            for word in ins.rest.split():
                name, eq, default = word.partition("=")
                args[name] = substitute(_unquote(default), args)[0] if eq else None
    return args


def substitute(text: str, values: dict[str, str | None]) -> tuple[str, list[str]]:
    """Expand `$X`, `${X}`, `${X:-d}`, `${X:+v}` with ARG defaults; also return names left without value."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        operator, word = match.group(2), match.group(3) or ""
        value = values.get(name)
        if operator == "-":
            return value if value else word
        if operator == "+":
            return word if value else ""
        if not value:
            missing.append(name)  # no default, or an empty one: Docker sees a blank name
            return ""
        return value

    return VARIABLE.sub(replace, text), missing


def _stages(instructions: list[Instruction], global_args: dict[str, str | None]) -> list[Stage]:
    stages: list[Stage] = []
    aliases: set[str] = set()
    for ins in instructions:
        if ins.keyword != "FROM":
            continue
        words = ins.rest.split()
        raw = words[0] if words else ""
        alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
        base, missing = substitute(raw, global_args)
        stages.append(
            Stage(
                index=ins.stage,
                instruction=ins,
                base_raw=raw,
                base=base,
                alias=alias,
                base_is_stage=base.lower() in aliases,
                unresolved=tuple(missing),
            )
        )
        if alias:
            aliases.add(alias.lower())
    return stages


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _run_step(ins: Instruction) -> RunStep:
    text = ins.rest.strip()
    commands: list[SimpleCommand] = []
    exec_form = False
    if text.startswith("["):
        words = ins.words()
        if words != text.split() or text.startswith('["'):
            exec_form = True
            commands = [SimpleCommand(argv=words)] if words else []
    if not exec_form:
        head = HEREDOC_MARKER.sub(" ", text) if ins.heredocs else text
        commands = split_commands(head)
    python: list[PythonSnippet] = []
    if ins.heredocs:
        # "RUN <<EOF" runs the body as a shell script; "RUN python3 <<EOF" feeds it to Python
        feeds_python = bool(commands) and PYTHON_PROGRAM.match(commands[-1].program) is not None
        for doc in ins.heredocs:
            if feeds_python:
                python.append(PythonSnippet(doc.body, doc.first_line, "python heredoc"))
            else:
                commands.extend(split_script_lines(doc.body))
    for cmd in commands:
        if PYTHON_PROGRAM.match(cmd.program) and "-c" in cmd.argv[1:]:
            position = cmd.argv.index("-c")
            if position + 1 < len(cmd.argv):
                code = cmd.argv[position + 1]
                python.append(PythonSnippet(code, ins.line_of(code.split("\n", 1)[0][:40]), "python -c"))
    return RunStep(ins, commands, python, exec_form)
