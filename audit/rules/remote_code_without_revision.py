"""RA603: `trust_remote_code=True` without a pinned revision: unpinned remote code runs."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Confidence, Finding, Severity
from audit.rules.base import Rule
from audit.rules.hub import hub_calls, revision_problem
from audit.views.entry import EntryView


class RemoteCodeWithoutRevision(Rule):
    id = "RA603"
    name = "remote-code-without-revision"
    family = "hub"
    severity = Severity.HIGH
    summary = "trust_remote_code=True without a pinned revision"
    explanation = (
        "`trust_remote_code=True` executes Python files from the model repository. Without a commit "
        "revision that code is whatever the owner pushed last: it can break the entry or run anything "
        "on the organizers' GPU machines."
    )
    fix = 'Pin the commit whose code you reviewed: `revision="<40-hex commit>"`.'

    def check(self, view: EntryView) -> Iterator[Finding]:
        local_dirs = set(view.tree.dirs)
        for source in view.python_sources:
            for call, literal in hub_calls(source, local_dirs):
                problem = revision_problem(call)
                if not call.trust_remote_code or problem is None:
                    continue
                repo = call.repo.expr if call.repo else ""
                yield self.finding(
                    f"{call.function}({repo}, trust_remote_code=True) {problem}: remote code is not pinned",
                    source.path,
                    call.line,
                    confidence=None if literal else Confidence.LOW,
                    evidence=repo,
                )
