"""RA405: models or datasets downloaded from the Hugging Face Hub at build time without a commit revision."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.fetches import clones
from audit.rules.hub import COMMIT, unpinned_hub_calls
from audit.views.entry import EntryView
from audit.views.python import parse_python
from audit.views.shell import SimpleCommand

# options of `huggingface-cli download` / `hf download` that take a value; the rest are flags
DOWNLOAD_VALUE_OPTIONS = frozenset({"--repo-type", "--cache-dir", "--local-dir", "--local-dir-use-symlinks", "--token",
                                    "--max-workers"})  # fmt: skip
DOWNLOAD_LIST_OPTIONS = frozenset({"--include", "--exclude"})


class ModelDownloadAtBuild(Rule):
    id = "RA405"
    name = "model-download-at-build"
    family = "fetch"
    severity = Severity.HIGH
    summary = "Hub model/dataset download in a RUN without a pinned revision"
    explanation = (
        "Weights fetched during `docker build` come from the repository's `main` branch as it is on the day "
        "of the rebuild; repositories get new commits, become gated or are deleted, and the build then "
        "fails or bakes different weights into the image."
    )
    fix = 'Pass the commit: `huggingface-cli download REPO --revision <40-hex commit>` / `revision="<commit>"`.'

    def check(self, view: EntryView) -> Iterator[Finding]:
        for target, dockerfile in view.dockerfiles():
            path = target.target.dockerfile
            for step in dockerfile.runs():
                for cmd in step.commands:
                    download = cli_download(cmd)
                    if download is None:
                        continue
                    repo, revision = download
                    if revision is None:
                        problem = "without --revision takes the repository's main branch"
                    elif "$" in revision or COMMIT.match(revision):
                        continue  # a commit, or set at build time: cannot be judged
                    else:
                        problem = f"at revision {revision!r}, a branch or tag, not a commit"
                    yield self.finding(
                        f"{cmd.program} download {repo} {problem}",
                        path,
                        step.instruction.line_of(repo),
                        target=path,
                        evidence=" ".join(cmd.argv),
                    )
                for snippet in step.python:
                    for call, problem in unpinned_hub_calls(parse_python(path, snippet.code)):
                        # a heredoc body is the Dockerfile's own lines; `python -c` code is one shell word
                        line = snippet.line + call.line - 1 if snippet.how == "python heredoc" else snippet.line
                        yield self.finding(
                            f"{snippet.how} calls {call.function}({call.repo.expr if call.repo else ''}) {problem}",
                            path,
                            line,
                            target=path,
                            evidence=snippet.code[:200],
                        )
            for clone in clones(dockerfile):
                if "huggingface.co" in clone.url and not clone.pinned:
                    yield self.finding(
                        f"git clone of {clone.url} takes the Hub repository's current main branch",
                        path,
                        clone.step.instruction.line_of(clone.url),
                        target=path,
                        evidence=" ".join(clone.command.argv),
                    )


def cli_download(cmd: SimpleCommand) -> tuple[str, str | None] | None:
    """`huggingface-cli download` / `hf download`: the repository and the `--revision`, if any.

    The repository is the first positional argument once option values are skipped. `huggingface-cli`
    parses with argparse, where `--include`/`--exclude` take every word up to the next option; `hf`
    (typer) takes one word per `--include`. An `hf://...@rev` repository carries its own revision.
    """
    if cmd.program not in ("huggingface-cli", "hf") or cmd.argv[1:2] != ["download"]:
        return None
    args = cmd.argv[2:]
    greedy = cmd.program == "huggingface-cli"
    positional: list[str] = []
    revision: str | None = None
    index = 0
    while index < len(args):
        word = args[index]
        index += 1
        option, eq, value = word.partition("=")
        if not word.startswith("-") or word == "-":
            positional.append(word)
        elif option == "--revision":
            if not eq and index < len(args):
                value, index = args[index], index + 1
            revision = value or None
        elif option in DOWNLOAD_LIST_OPTIONS and not eq:
            index += 1
            while greedy and index < len(args) and not args[index].startswith("-"):
                index += 1
        elif option in DOWNLOAD_VALUE_OPTIONS and not eq:
            index += 1
    repo = positional[0] if positional else "?"
    if repo.startswith("hf://") and "@" in repo:
        revision = repo.split("@", 1)[1].split("/", 1)[0]
    return repo, revision
