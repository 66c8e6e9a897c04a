"""RA305: `--index-url` / `--extra-index-url` to a plain-http or private index (files and RUN lines)."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.views.entry import EntryView
from audit.views.requirements import index_problem

INDEX_OPTIONS = ("index_url", "extra_index_urls", "find_links")


class RequirementUntrustedIndex(Rule):
    id = "RA305"
    name = "requirement-untrusted-index"
    family = "requirements"
    severity = Severity.HIGH
    summary = "package index over plain http or on a private host"
    explanation = (
        "An index on a private address or a local host name is reachable only from the submitter's "
        "network, so the rebuild cannot resolve anything from it; a plain-http index can be tampered with "
        "and recent pip refuses it without `--trusted-host`."
    )
    fix = "Install from PyPI or a public HTTPS index, or vendor the wheels into the repository."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for reached in view.dependency_files:
            for option in reached.parsed.options:
                if option.name not in INDEX_OPTIONS:
                    continue
                for url in option.values:
                    problem = index_problem(url)
                    if problem:
                        yield self.finding(problem, reached.path, option.line, target=reached.target, evidence=url)
        for use in view.installs:
            for url in use.install.index_urls:
                problem = index_problem(url)
                if problem:
                    dockerfile = use.target.target.dockerfile
                    yield self.finding(
                        problem,
                        dockerfile,
                        use.step.instruction.line_of(url),
                        target=dockerfile,
                        evidence=url,
                    )
