"""`repro-audit fix` as a function: find the one submission, settle the cut-off and the settings, plan
with the resolvers the caller wires in, and write only when asked (and only into a clean git tree,
unless forced). After writing, the entry is audited again, so what is reported as left is what
`check` would now say, not a prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from audit.discover import find_entries
from audit.engine import CheckOptions, entry_view
from audit.fix import cutoff, plan
from audit.fix.model import DEFAULT_INDEX, KINDS, FixSettings, Progress, Resolver
from audit.model import Finding

DEFAULT_TIMEOUT = 600.0


class FixError(Exception):
    """The fix cannot start (no single submission, no cut-off, a dirty tree): the message says what to do."""


@dataclass(frozen=True)
class FixOptions:
    as_of: str | None = None
    write: bool = False
    force: bool = False  # write into a dirty (or non-git) tree
    index_url: str | None = None
    python_version: str | None = None
    hf_endpoint: str | None = None
    skip: frozenset[str] = frozenset()
    timeout: float = DEFAULT_TIMEOUT
    cache_dir: Path | None = None


@dataclass
class FixResult:
    plan: plan.FixPlan
    written: list[str] = field(default_factory=list)
    left_after: tuple[Finding, ...] | None = None  # the pinning findings of a fresh audit after writing

    @property
    def left(self) -> list[Finding]:
        return list(self.left_after) if self.left_after is not None else self.plan.left

    @property
    def pending(self) -> bool:
        """Changes were proposed and not written."""
        return bool(self.plan.files) and not self.written


def run_fix(path: Path, options: FixOptions, resolvers: list[Resolver], progress: Progress) -> FixResult:
    unknown = sorted(options.skip - set(KINDS))
    if unknown:
        raise FixError(f"--skip {unknown[0]}: not a kind of pin (known: {', '.join(KINDS)})")
    sources = find_entries(path)
    if not sources:
        raise FixError(f"{path} holds no file: give the folder of one submission")
    if len(sources) > 1:
        names = ", ".join(str(s.path) for s in sources[:3])
        raise FixError(f"{path} holds {len(sources)} submissions ({names}...): fix works on one, give its folder")
    if options.write and not options.force:
        problem = plan.working_tree_problem(sources[0].path)
        if problem:
            raise FixError(f"not writing: {problem}; commit or stash first, or pass --force")
    view = entry_view(sources[0], None, CheckOptions())
    if view.config_error is not None:  # a deadline or index it could not read must not be replaced silently
        raise FixError(f"{view.config_error}: fix it, or give the setting on the command line")
    try:
        moment, where = cutoff.choose(options.as_of, view.config.deadline, sources[0].path)
    except cutoff.CutoffError as exc:
        raise FixError(str(exc)) from None
    settings = FixSettings(
        cutoff=moment,
        cutoff_source=where,
        index_url=options.index_url or view.config.index_url or DEFAULT_INDEX,
        python_version=options.python_version or view.config.python_version,
        hf_endpoint=options.hf_endpoint,
        skip=options.skip,
        timeout=options.timeout,
        **({"cache_dir": options.cache_dir} if options.cache_dir else {}),
    )
    progress(f"auditing {sources[0].path} for pinning findings")
    findings = plan.pinning_findings(view)
    result = FixResult(plan.make_plan(view, settings, resolvers, progress, findings))
    if options.write and result.plan.files:
        result.written = plan.apply(result.plan)
        progress(f"wrote {len(result.written)} file(s); auditing again")
        result.left_after = plan.pinning_findings(entry_view(sources[0], None, CheckOptions()))
    return result
