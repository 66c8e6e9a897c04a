"""Shell commands of a `RUN`, split the way `/bin/sh` would split them.

We only need what a POSIX shell does to words and operators: `shlex` in POSIX mode with punctuation
characters gives exactly that, including the pitfall this project exists to catch: an unquoted
`torch>=2.0.1` is the word `torch`, a redirection `>` and a file named `=2.0.1`. Each simple command
keeps its argv, its redirections, its leading `VAR=value` assignments and how it is joined to the
next one (`&&`, `||`, `;`, `|`, `&`). Written here because no maintained library exposes a shell
parse tree in this shape (bashlex is unmaintained and fails on common Dockerfile idioms).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

CONTROL_OPERATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")", ";;", "|&"})
REDIRECT_OPERATORS = frozenset({">", ">>", "<", "<<", "<<<", ">&", "<&", "&>", "&>>", ">|", "<>"})
WRAPPERS = frozenset({"sudo", "env", "time", "nohup", "exec", "command", "nice", "stdbuf", "eval"})
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass
class SimpleCommand:
    """One command of a shell line: `env` assignments, the argv, and its redirections."""

    argv: list[str]
    assignments: dict[str, str] = field(default_factory=dict)
    redirects: list[tuple[str, str]] = field(default_factory=list)
    joined_by: str | None = None  # the operator after this command
    piped_from: SimpleCommand | None = None  # the command whose output feeds this one

    @property
    def program(self) -> str:
        return self.argv[0].rsplit("/", 1)[-1] if self.argv else ""


def tokenize(script: str) -> list[str]:
    """Split into shell words and operators; unbalanced quotes fall back to whitespace splitting."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:
        return script.split()


def split_commands(script: str) -> list[SimpleCommand]:
    """The simple commands of a shell script, in order, with their joining operators."""
    commands: list[SimpleCommand] = []
    current: list[str] = []
    redirects: list[tuple[str, str]] = []
    pending_pipe: SimpleCommand | None = None
    tokens = tokenize(script.replace("\\\n", " "))
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in CONTROL_OPERATORS:
            cmd = _finish(current, redirects, token)
            if cmd is not None:
                cmd.piped_from = pending_pipe
                commands.append(cmd)
                pending_pipe = cmd if token in ("|", "|&") else None
            current, redirects = [], []
        elif token in REDIRECT_OPERATORS or (token.startswith((">", "<")) and set(token) <= set("<>&|")):
            target = tokens[index + 1] if index + 1 < len(tokens) else ""
            if current and current[-1].isdigit():
                current.pop()  # the fd number of "2>", split off by shlex
            redirects.append((token, target))
            index += 1
        else:
            current.append(token)
        index += 1
    cmd = _finish(current, redirects, None)
    if cmd is not None:
        cmd.piped_from = pending_pipe
        commands.append(cmd)
    return commands


def split_script_lines(script: str) -> list[SimpleCommand]:
    """Like `split_commands`, for a multi-line script (heredoc bodies): newlines end commands."""
    joined = re.sub(r"\\\r?\n", " ", script)
    commands: list[SimpleCommand] = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            commands.extend(split_commands(line))
    return commands


def _finish(words: list[str], redirects: list[tuple[str, str]], joined_by: str | None) -> SimpleCommand | None:
    assignments: dict[str, str] = {}
    argv = list(words)
    while argv and ASSIGNMENT.match(argv[0]):
        name, _, value = argv.pop(0).partition("=")
        assignments[name] = value
    while argv and argv[0].rsplit("/", 1)[-1] in WRAPPERS:
        wrapper = argv.pop(0).rsplit("/", 1)[-1]
        while argv and (argv[0].startswith("-") or (wrapper == "env" and ASSIGNMENT.match(argv[0]))):
            word = argv.pop(0)
            if ASSIGNMENT.match(word):
                name, _, value = word.partition("=")
                assignments[name] = value
    if not argv and not assignments:
        return None
    return SimpleCommand(argv=argv, assignments=assignments, redirects=list(redirects), joined_by=joined_by)
