"""The static audit: paths -> entries -> rules -> policy -> a finished `CheckResult`.

Callable from Python and tests without a subprocess (`run_check`). Entries are independent, so a
batch is spread over worker processes; a rule that crashes on one entry becomes an `errored`
finding on that entry instead of stopping the batch, and so does an entry's own invalid
`[tool.repro-audit]` table (RA008; the entry is audited with default settings). Only a `--config`
file the user gave is a fatal error.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from audit import config as config_module
from audit import policy
from audit.baseline import Baseline
from audit.config import Config, ConfigError
from audit.discover import EntrySource, build_entry, find_entries
from audit.model import CheckResult, Confidence, Entry, EntryReport, Finding, Location, SecretSummary, Severity
from audit.rules import REGISTRY
from audit.rules.base import Rule
from audit.rules.high_entropy_string import HighEntropyString
from audit.secrets import redact
from audit.secrets.content import Limits
from audit.secrets.scan import MEMO_KIND, EntrySecrets, SecretOptions
from audit.tree import EntryTree
from audit.views.entry import EntryView

ENTROPY_RULE = HighEntropyString.id


@dataclass(frozen=True)
class CheckOptions:
    fail_on: Severity | None = None  # None: the config's, else high
    config_file: Path | None = None  # applies to every entry instead of their own pyproject.toml
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()  # added to the config's `ignore`
    isolated: bool = False  # ignore configs and inline suppressions found in the audited trees
    jobs: int = 0  # 0: one per CPU (at most the number of entries)
    rules: tuple[Rule, ...] = field(default_factory=lambda: tuple(REGISTRY))
    entropy: bool = False  # turn on the generic high-entropy secret detectors (RA910)
    history: bool = True  # scan the git history of entries that are repositories
    secret_max_file_bytes: int | None = None  # None: the config's, else the default
    salt: str | None = None  # fingerprint salt; None: the baseline's, else REPRO_AUDIT_SECRET_SALT or the default
    baseline: Baseline | None = None  # known secrets, reported as suppressed
    verify_url: str | None = None  # --verify: HuggingFace base URL asked whether each token is live
    verify_timeout: float = 5.0


def run_check(paths: Sequence[Path], options: CheckOptions = CheckOptions()) -> CheckResult:
    """Audit every entry under `paths`. Raises DiscoveryError / ConfigError for usage problems."""
    shared = config_module.load_file(options.config_file) if options.config_file else None
    sources = [source for path in paths for source in find_entries(path)]
    sources = _unique_names(sources)
    jobs = options.jobs or os.cpu_count() or 1
    jobs = max(1, min(jobs, len(sources)))
    if jobs == 1 or len(sources) < 4:
        reports = [audit_entry(s, shared, options) for s in sources]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            reports = list(
                pool.map(audit_entry, sources, [shared] * len(sources), [options] * len(sources), chunksize=4)
            )
    return CheckResult(tuple(reports), tuple(str(p) for p in paths), _fail_on(options, shared, reports))


def _fail_on(options: CheckOptions, shared: Config | None, reports: list[EntryReport]) -> Severity:
    """--fail-on, else the --config file's, else the strictest `fail-on` of the entries' own configs, else high."""
    if options.fail_on is not None:
        return options.fail_on
    if shared is not None and shared.fail_on is not None:
        return shared.fail_on
    configured = [r.fail_on for r in reports if r.fail_on is not None]
    return min(configured) if configured else Severity.HIGH


def _unique_names(sources: list[EntrySource]) -> list[EntrySource]:
    seen: dict[str, int] = {}
    unique = []
    for source in sources:
        count = seen.get(source.name, 0)
        seen[source.name] = count + 1
        if count:
            source = EntrySource(f"{source.name}#{count + 1}", source.path, source.track)
        unique.append(source)
    return unique


def entry_view(source: EntrySource, shared: Config | None, options: CheckOptions) -> EntryView:
    """The parsed entry the rules look at: its tree read with its config's limits, and its targets."""
    probe = EntryTree.walk(source.path)
    config, config_error = (shared, None) if shared is not None else _entry_config(probe, options)
    tree = (
        probe if config.max_file_bytes == probe.max_file_bytes else EntryTree.walk(source.path, config.max_file_bytes)
    )
    entry = build_entry(source, tree, config.contexts, config.track)
    return EntryView(entry, tree, config, config_error)


def audit_entry(source: EntrySource, shared: Config | None, options: CheckOptions) -> EntryReport:
    """Run every selected rule over one entry and apply the policy."""
    return audit_view(entry_view(source, shared, options), options)


def audit_view(view: EntryView, options: CheckOptions) -> EntryReport:
    """Run every selected rule over an entry already read, and apply the policy."""
    entry, tree, config = view.entry, view.tree, view.config
    selected = [rule for rule in options.rules if _selected(rule, config, options)]
    view.secret_options = SecretOptions(
        entropy=any(rule.id == ENTROPY_RULE for rule in selected),
        history=options.history,
        limits=Limits(max_file_bytes=options.secret_max_file_bytes or config.secret_max_file_bytes),
        salt=options.salt or (options.baseline.salt if options.baseline else redact.default_salt()),
        verify_url=options.verify_url,
        verify_timeout=options.verify_timeout,
    )
    findings: list[Finding] = []
    for rule in selected:
        try:
            findings.extend(rule.check(view))
        except Exception as exc:  # a bug in one rule must not cost the other rules or the batch
            findings.append(_rule_crash(rule, exc, entry))
    findings = policy.apply(
        _dedupe(findings), config, tree, honour_inline=not options.isolated, baseline=options.baseline
    )
    findings.sort(key=Finding.sort_key)
    return EntryReport(
        entry,
        tuple(findings),
        files_scanned=len(tree.files),
        config_source=config.source,
        fail_on=config.fail_on,
        secrets=_secret_summaries(tree, findings),
    )


def _selected(rule: Rule, config: Config, options: CheckOptions) -> bool:
    opted_in = (ENTROPY_RULE,) if options.entropy else ()
    return policy.rule_selected(
        config,
        rule.id,
        rule.family,
        options.select,
        enabled_by_default=rule.enabled_by_default,
        opted_in=opted_in,
        cli_ignore=options.ignore,
    )


def _secret_summaries(tree: EntryTree, findings: list[Finding]) -> tuple[SecretSummary, ...]:
    """The entry's distinct secrets, those some reported finding is about (a secret whose rule did not run
    or was ignored is not summarised either)."""
    scan = tree.memoized(MEMO_KIND, ".")
    if not isinstance(scan, EntrySecrets):
        return ()
    reported = {f.secret.fingerprint for f in findings if f.secret is not None}
    return tuple(
        SecretSummary(s.kind.id, s.kind.label, s.fingerprint, s.redacted, s.lives, tuple(s.paths()))
        for s in scan.secrets.values()
        if s.fingerprint in reported
    )


def _entry_config(tree: EntryTree, options: CheckOptions) -> tuple[Config, ConfigError | None]:
    """The entry's own `[tool.repro-audit]`, or defaults and why it could not be used (reported as RA008)."""
    if options.isolated or "pyproject.toml" not in tree.files:
        return Config(), None
    text = tree.read_text("pyproject.toml")
    if text is None:
        return Config(), None
    try:
        found = config_module.from_pyproject_text(text.text, "pyproject.toml")
    except ConfigError as exc:
        return Config(), exc
    return found or Config(), None


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """A requirement file read by two builds is reported once, for the first build that reads it."""
    seen: set[tuple[str, Location, str]] = set()
    unique = []
    for finding in findings:
        key = (finding.rule, finding.location, finding.message)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique


def _rule_crash(rule: Rule, exc: Exception, entry: Entry) -> Finding:
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return Finding(
        rule=rule.id,
        name=rule.name,
        family=rule.family,
        severity=Severity.INFO,
        confidence=Confidence.LOW,
        message=(
            f"rule {rule.id} could not check this entry ({type(exc).__name__}: {exc} at "
            f"{Path(where.filename).name}:{where.lineno}); please report this with the entry attached"
        ),
        location=Location("."),
        fix="This is a bug in repro-audit, not in the submission.",
    )
