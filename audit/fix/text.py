"""Where things are in an entry file's text, as character offsets that `Edit`s can replace.

The Dockerfile and shell views keep words, not positions; these helpers find an instruction, a word
or a whole simple command back in the text it was parsed from, so an edit replaces exactly those
characters and leaves the file's layout (continuations, comments, quoting elsewhere) as it was.
Written here: no Dockerfile library gives character spans.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property

from audit.views.dockerfile import Instruction
from audit.views.shell import SimpleCommand

SEPARATOR = r"(?:[ \t]|\\\r?\n)+"  # what may stand between two words of one command


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class SourceText:
    path: str
    text: str

    @cached_property
    def line_starts(self) -> tuple[int, ...]:
        starts = [0]
        starts.extend(match.end() for match in re.finditer(r"\n", self.text))
        return tuple(starts)

    def offset(self, line: int) -> int:
        """Where 1-based `line` starts."""
        return self.line_starts[min(max(line, 1), len(self.line_starts)) - 1]

    def line_of(self, offset: int) -> int:
        return bisect_right(self.line_starts, offset)

    def lines_span(self, first: int, last: int) -> Span:
        """Lines first..last (1-based, inclusive), without the newline after the last."""
        start = self.offset(first)
        end = self.offset(last + 1) if last < len(self.line_starts) else len(self.text)
        while end > start and self.text[end - 1] in "\r\n":
            end -= 1
        return Span(start, end)

    def instruction_span(self, ins: Instruction, after: int = 0) -> Span:
        whole = self.lines_span(ins.start, ins.end)
        return Span(min(max(whole.start, after), whole.end), whole.end)

    def find(self, pattern: str, within: Span) -> Span | None:
        match = re.compile(pattern).search(self.text, within.start, within.end)
        return Span(match.start(), match.end()) if match else None

    def word_span(self, word: str, within: Span) -> Span | None:
        """`word` as one shell word (bare or quoted) inside `within`."""
        return self.find(_word_pattern(word), within)

    def command_span(self, ins: Instruction, command: SimpleCommand, after: int = 0) -> Span | None:
        """The characters of `command`'s argv in the instruction, at or after offset `after` (give the end
        of the previous command, so two identical commands of one RUN get their own spans): from its
        first word to its last (leading VAR=value assignments and redirections are not part of it).
        None when the words cannot be found in order (a command built by the shell, a heredoc body)."""
        if not command.argv:
            return None
        words = [_word_pattern(word) for word in command.argv]
        return self.find(SEPARATOR.join(words), self.instruction_span(ins, after))


def _word_pattern(word: str) -> str:
    escaped = re.escape(word)
    bare = r"(?<![^\s\\;&|(])" + escaped + r"(?![^\s;&|)])"
    return f"(?:{bare}|'{escaped}'|\"{escaped}\")"
