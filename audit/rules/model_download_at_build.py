"""RA405: models or datasets downloaded from the Hugging Face Hub at build time without a revision."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.fetches import clones
from audit.rules.hub import unpinned_hub_calls
from audit.views.entry import EntryView
from audit.views.python import parse_python


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
                    downloads = cmd.program in ("huggingface-cli", "hf") and "download" in cmd.argv[1:2]
                    if downloads and not any(w == "--revision" or w.startswith("--revision=") for w in cmd.argv):
                        repo = next((w for w in cmd.argv[2:] if not w.startswith("-")), "?")
                        yield self.finding(
                            f"{cmd.program} download {repo} without --revision takes the repository's main branch",
                            path,
                            step.instruction.line_of(repo),
                            target=path,
                            evidence=" ".join(cmd.argv),
                        )
                for snippet in step.python:
                    for call, problem in unpinned_hub_calls(parse_python(path, snippet.code)):
                        yield self.finding(
                            f"{snippet.how} calls {call.function}({call.repo.expr if call.repo else ''}) {problem}",
                            path,
                            snippet.line,
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
