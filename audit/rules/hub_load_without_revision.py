"""RA601 and RA602: Hub loads in Python sources without a revision, or with a branch or tag."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.hub import hub_calls, revision_problem
from audit.views.entry import EntryView
from audit.views.python import Call


def _unpinned(view: EntryView, missing: bool) -> Iterator[tuple[str, Call, bool, str]]:
    local_dirs = set(view.tree.dirs)
    for source in view.python_sources:
        for call, literal in hub_calls(source, local_dirs):
            if call.trust_remote_code or not literal:
                continue  # RA603 reports remote code; a repository computed at run time is often a local folder
            problem = revision_problem(call)
            if problem is None or (call.revision is None) != missing:
                continue
            yield source.path, call, literal, problem


class HubLoadWithoutRevision(Rule):
    id = "RA601"
    name = "hub-load-without-revision"
    family = "hub"
    severity = Severity.MEDIUM
    summary = "from_pretrained / load_dataset / snapshot_download without revision="
    explanation = (
        "Without `revision=` the Hub serves the repository's `main` branch as it is when the code runs; "
        "model owners push new weights, tokenizer fixes and config changes there, so training and "
        "evaluation months later use different files than the entry did."
    )
    fix = 'Pass the commit you used: `from_pretrained("org/model", revision="<40-hex commit>")`.'

    def check(self, view: EntryView) -> Iterator[Finding]:
        for path, call, _literal, problem in _unpinned(view, missing=True):
            repo = call.repo.expr if call.repo else ""
            yield self.finding(f"{call.function}({repo}) {problem}", path, call.line, evidence=repo)


class HubLoadMutableRevision(Rule):
    id = "RA602"
    name = "hub-load-mutable-revision"
    family = "hub"
    severity = Severity.MEDIUM
    summary = "Hub load with revision= a branch or tag"
    explanation = (
        "A branch (`main`) or a tag can be moved to new commits by the repository owner; only a 40-hex "
        "commit hash names fixed files."
    )
    fix = "Replace the branch or tag with the commit it points at today (`huggingface_hub.list_repo_commits`)."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for path, call, _literal, problem in _unpinned(view, missing=False):
            repo = call.repo.expr if call.repo else ""
            yield self.finding(f"{call.function}({repo}) {problem}", path, call.line, evidence=repo)
