"""The one place where findings are filtered: selection, severity overrides, ignored paths, suppressions.

Rules report everything they see. Here, in this order: rules not selected are dropped (they did not
run); `severity` overrides change a finding's severity; findings in `ignore-paths`, secrets in the
baseline, and inline
`# repro-audit: ignore[RULE] reason` comments (at the end of the finding's line, or alone on the
line above it, in any file) mark the finding as suppressed, keeping it in the result so JSON and SARIF still carry it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from audit.baseline import Baseline
from audit.config import Config, selector_matches
from audit.model import Finding, Suppression
from audit.tree import EntryTree

PRAGMA = re.compile(r"#\s*repro-audit:\s*ignore(?:\[(?P<rules>[^\]]*)\])?(?P<reason>[^\n]*)", re.IGNORECASE)


def rule_selected(
    config: Config,
    rule_id: str,
    family: str,
    cli_select: Iterable[str] = (),
    *,
    enabled_by_default: bool = True,
    opted_in: Iterable[str] = (),
    cli_ignore: Iterable[str] = (),
) -> bool:
    """Whether a rule runs. A rule that is off by default runs only when named by its exact id in a
    selection, or turned on by a flag (`opted_in`, e.g. `--entropy`); a family or prefix does not."""
    select = tuple(cli_select) or config.select
    if not enabled_by_default and rule_id not in select and rule_id not in tuple(opted_in):
        return False
    if select and rule_id not in tuple(opted_in) and not any(selector_matches(s, rule_id, family) for s in select):
        return False
    return not any(selector_matches(s, rule_id, family) for s in (*config.ignore, *cli_ignore))


def apply(
    findings: Iterable[Finding],
    config: Config,
    tree: EntryTree,
    honour_inline: bool = True,
    baseline: Baseline | None = None,
) -> list[Finding]:
    result = []
    for finding in findings:
        for selector, severity in config.severity.items():
            if selector_matches(selector, finding.rule, finding.family):
                finding = dataclasses.replace(finding, severity=severity)
        if config.path_ignored(finding.location.path):
            finding = dataclasses.replace(
                finding, suppressed=Suppression("config", f"path matches ignore-paths of {config.source}")
            )
        elif baseline is not None and baseline.holds(finding):
            finding = dataclasses.replace(finding, suppressed=Suppression("baseline", "known secret in the baseline"))
        elif honour_inline:
            reason = inline_suppression(finding, tree)
            if reason is not None:
                finding = dataclasses.replace(finding, suppressed=Suppression("inline", reason))
        result.append(finding)
    return result


def inline_suppression(finding: Finding, tree: EntryTree) -> str | None:
    """The reason of a matching `repro-audit: ignore[...]` on the finding's line or the line above."""
    line = finding.location.line
    if line is None or not finding.location.in_file_text or finding.location.path not in tree.files:
        return None
    text = tree.read_text(finding.location.path)
    if text is None:
        return None
    for number in (line, line - 1):
        if not 1 <= number <= len(text.lines):
            continue
        content = text.lines[number - 1]
        if number != line and not content.lstrip().startswith("#"):
            continue  # a pragma at the end of a line covers that line only; on its own line, the next one
        match = PRAGMA.search(content)
        if match is None:
            continue
        rules = match.group("rules")
        selectors = [s.strip() for s in rules.split(",") if s.strip()] if rules is not None else []
        if not selectors or any(selector_matches(s, finding.rule, finding.family) for s in selectors):
            return match.group("reason").strip() or "suppressed inline (no reason given)"
    return None
