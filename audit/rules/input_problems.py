"""RA001-RA008: input the audit could not take as it is. Bad input is a finding, never a traceback.

A small family in one module: each rule turns one kind of problem recorded by the entry tree or a
parser into findings. Files are read lazily and a read problem is recorded by whoever reads first, so
the read-problem rules (RA003-RA005) first ask the entry view to read everything the audit reads:
their findings do not depend on which other rules are selected, and after the other rules (the
registry lists these last) that costs nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.views.entry import EntryView, TomlScan


class DockerfileSyntax(Rule):
    id = "RA001"
    name = "dockerfile-syntax"
    family = "input"
    severity = Severity.HIGH
    summary = "Dockerfile that Docker cannot parse"
    explanation = (
        "An unknown instruction, a continuation line at the end of the file or a heredoc that is never "
        "closed makes `docker build` stop before it starts. The rest of the file is still audited."
    )
    fix = "Fix the line shown; `docker build --check .` reports the same errors."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for target, dockerfile in view.dockerfiles():
            path = target.target.dockerfile
            for line, message in dockerfile.syntax_errors:
                yield self.finding(message, path, line, target=path)


class EmptyDockerfile(Rule):
    id = "RA002"
    name = "empty-dockerfile"
    family = "input"
    severity = Severity.HIGH
    summary = "Dockerfile with no instructions"
    explanation = "An empty Dockerfile (or one holding only comments) cannot be built: the target has nothing to run."
    fix = "Write the build, or delete the file so that nobody tries to build it."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for target, dockerfile in view.dockerfiles():
            if dockerfile.is_empty:
                path = target.target.dockerfile
                yield self.finding("the Dockerfile has no instructions", path, target=path)


class _TreeProblem(Rule):
    """Findings for one kind of problem the entry tree recorded while reading."""

    def check(self, view: EntryView) -> Iterator[Finding]:
        view.read_everything()
        for problem in view.tree.problems:
            if problem.rule == self.id:
                yield self.finding(problem.message, problem.path)


class FileTooLarge(_TreeProblem):
    id = "RA003"
    name = "file-too-large"
    family = "input"
    severity = Severity.LOW
    summary = "text file over the size limit, not checked"
    explanation = (
        "Files the audit parses (Dockerfiles, requirement files, Python, notebooks) are skipped above a size "
        "limit so that a stray dump cannot exhaust memory; the skip is reported so nothing goes unchecked silently."
    )
    fix = "Raise `max-file-bytes` in [tool.repro-audit] if the file must be checked."


class UndecodableFile(_TreeProblem):
    id = "RA004"
    name = "undecodable-file"
    family = "input"
    severity = Severity.LOW
    summary = "text file that is not valid UTF-8"
    explanation = (
        "The file holds bytes that are not UTF-8 (often a Latin-1 or Windows editor). It was audited with "
        "those bytes replaced; pip and Docker may reject it outright on another machine."
    )
    fix = "Re-save the file as UTF-8."


class UnreadableFile(_TreeProblem):
    id = "RA005"
    name = "unreadable-file"
    family = "input"
    severity = Severity.LOW
    summary = "file or folder that cannot be read"
    explanation = "A permission or I/O error kept the audit from reading this path; it was not checked."
    fix = "Make the file readable by the user running repro-audit."


class SymlinkEscapesEntry(Rule):
    id = "RA006"
    name = "symlink-escapes-entry"
    family = "input"
    severity = Severity.MEDIUM
    summary = "symbolic link pointing outside the repository"
    explanation = (
        "The link points at a file outside the repository (or at nothing). It was not followed: on any other "
        "machine it is dangling, and `COPY` of it fails or copies a broken link."
    )
    fix = "Replace the link with the file itself, or with a link inside the repository."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for path, target in sorted(view.tree.escaping_links.items()):
            yield self.finding(f"symbolic link to {target!r} leaves the repository; it was not followed", path)


class PythonSyntaxError(Rule):
    id = "RA007"
    name = "python-syntax-error"
    family = "input"
    severity = Severity.LOW
    summary = "Python source that does not parse"
    explanation = (
        "The file mentions model or dataset loading or host paths but is not valid Python 3, so its calls "
        "were not checked; if the entry runs it, it fails. (Files that mention none of these are not parsed.)"
    )
    fix = "Fix the syntax error (python -m py_compile FILE shows it)."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for source in view.python_sources:
            if source.syntax_error is not None:
                line, message = source.syntax_error
                yield self.finding(f"not valid Python: {message}", source.path, line)


class InvalidProjectFile(Rule):
    id = "RA008"
    name = "invalid-project-file"
    family = "input"
    severity = Severity.LOW
    summary = "pyproject.toml or environment.yml that does not parse, or an invalid [tool.repro-audit]"
    explanation = (
        "The dependency file is not valid TOML or YAML, so its dependencies were not graded. Or the "
        "repository's own [tool.repro-audit] table has an unknown key or a bad value: the entry was then "
        "audited with default settings (a `--config` file with the same problem stops the run instead)."
    )
    fix = "Fix the syntax error shown."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for reached in view.dependency_files:
            if reached.kind in ("conda", "pyproject") and not reached.path.endswith(".txt"):
                for invalid in reached.parsed.invalid:
                    yield self.finding(invalid.message.splitlines()[0][:200], reached.path, invalid.line)
        if view.config_error is not None:
            yield self.finding(
                f"[tool.repro-audit] is not usable ({view.config_error.detail}); this entry was audited with "
                "default settings",
                "pyproject.toml",
                _config_line(view),
                fix="Fix the key shown; `repro-audit rules` lists the rule ids and the README the keys and values.",
            )


def _config_line(view: EntryView) -> int | None:
    """The line of the key at fault in `[tool.repro-audit]`, else of the table itself."""
    text = view.tree.read_text("pyproject.toml")
    if text is None or view.config_error is None:
        return None
    keys = TomlScan(text.text).keys
    table = ("tool", "repro-audit")
    key = view.config_error.key
    return (keys.get((*table, key)) if key else None) or keys.get(table)
