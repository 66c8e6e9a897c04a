"""SARIF 2.1.0 for `repro-audit check`: the static and secret findings as one run, for GitHub code scanning.

One run of the "repro-audit" driver. `rules` describes only the rules that fired in this result
(suppressed findings included); each result points to its rule by id and index. Levels follow the
severity: high is `error`, medium `warning`, low and info `note`. Secret and credential rules carry
the `security` tag and a `security-severity`, so GitHub lists them as security alerts.

Paths: every `artifactLocation.uri` is relative to `SRCROOT`, which is the current folder when every
checked path lies inside it (how CI runs `repro-audit check .` at the repository's root, so GitHub
finds the files), else the checked paths' common folder; an entry of an archive is prefixed with its
folder, so uris are unique across entries. A line is a `region` only when it is a line of the file as
it is in the tree; a place deeper than that (inside an archive, a notebook cell, a binary, a past
commit) is said in the location's message and properties instead.

`partialFingerprints["reproAudit/v1"]` identifies a finding across runs without its line: a hash of
the rule, the uri, the target and the finding's content with line numbers taken out (for a secret,
its kind and salted fingerprint, never its value), plus the finding's rank among findings that share
all of those, so the same finding keeps its fingerprint when lines are inserted above it.

Suppressed findings are kept with `suppressions`: `inSource` for an inline pragma, `external` for the
config's ignore-paths and a baseline. No field holds a secret; the CLI still passes the text through
the output guard like every other report.

Written by hand: the SARIF object models on PyPI (sarif-om) only mirror the schema's classes, and the
document is a few plain dicts; tests validate it against the OASIS schema.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from audit import __version__
from audit.ingest.issues import ISSUES as INGEST_ISSUES
from audit.model import CheckResult, Confidence, Entry, Finding, Location, Severity
from audit.rules import REGISTRY
from audit.serialize import location_dict

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "SRCROOT"
FINGERPRINT_KEY = "reproAudit/v1"

LEVELS = {Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note", Severity.INFO: "note"}
# GitHub ranks a security-severity of 7.0-8.9 as high, 4.0-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY = {Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0", Severity.INFO: "1.0"}
SECURITY_FAMILIES = frozenset({"secret", "credential"})
PRECISION = {Confidence.HIGH: "high", Confidence.MEDIUM: "medium", Confidence.LOW: "low"}
SUPPRESSION_KINDS = {"inline": "inSource", "config": "external", "baseline": "external"}

_LINE_NUMBERS = re.compile(r"\b(lines?|columns?|cols?)\s+\d+(?:\s*-\s*\d+)?", re.IGNORECASE)


class _Described(Protocol):
    """What SARIF needs of a rule; `audit.rules.base.Rule` and `audit.issues.StageIssue` both have it."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def family(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def confidence(self) -> Confidence: ...
    @property
    def summary(self) -> str: ...
    @property
    def explanation(self) -> str: ...
    @property
    def fix(self) -> str: ...


@dataclasses.dataclass(frozen=True)
class _Unknown:
    """A rule this module has no description of (a finding read back from elsewhere): said from the finding."""

    id: str
    name: str
    family: str
    severity: Severity
    confidence: Confidence
    summary: str
    explanation: str
    fix: str


def render(result: CheckResult) -> str:
    return json.dumps(document(result), indent=2, ensure_ascii=False) + "\n"


def document(result: CheckResult) -> dict[str, Any]:
    described: tuple[_Described, ...] = (*INGEST_ISSUES, *REGISTRY)
    catalog = {rule.id: rule for rule in described}
    base = _source_root(result)
    placed = [
        (report.entry, finding, _prefix(report.entry, base)) for report in result.entries for finding in report.findings
    ]
    fired = sorted({finding.rule for _entry, finding, _prefix_ in placed})
    rules = [_rule(catalog.get(rule_id) or _unknown(rule_id, placed)) for rule_id in fired]
    index = {rule_id: i for i, rule_id in enumerate(fired)}
    fingerprints = _fingerprints([(finding, prefix) for _entry, finding, prefix in placed])
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "repro-audit",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }
        },
        "invocations": [_invocation(result)],
        "results": [
            _result(entry, finding, prefix, index[finding.rule], fingerprint)
            for (entry, finding, prefix), fingerprint in zip(placed, fingerprints, strict=True)
        ],
    }
    if base is not None:
        run["originalUriBaseIds"] = {
            SRCROOT: {
                "uri": base.as_uri().rstrip("/") + "/",
                "description": {"text": "The folder the artifact uris are relative to."},
            }
        }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def _source_root(result: CheckResult) -> Path | None:
    """The current folder when it holds every checked path, else their common folder (see the docstring)."""
    roots = [Path(root).resolve() for root in result.roots]
    if not roots:
        return None
    here = Path.cwd().resolve()
    if all(root.is_relative_to(here) for root in roots):
        return here
    try:
        return Path(os.path.commonpath(roots))
    except ValueError:  # different drives
        return None


def _prefix(entry: Entry, base: Path | None) -> str:
    """The entry's folder relative to SRCROOT, POSIX ("" for the root itself); its name when outside it."""
    root = Path(entry.root)
    if base is not None and root.is_relative_to(base):
        relative = root.relative_to(base).as_posix()
        return "" if relative == "." else relative
    return entry.name


def _uri(prefix: str, path: str) -> str:
    joined = f"{prefix}/{path}" if prefix and path != "." else (prefix or path)
    return quote(joined, safe="/")


def _rule(rule: _Described) -> dict[str, Any]:
    properties: dict[str, Any] = {"tags": [rule.family], "precision": PRECISION[rule.confidence]}
    if rule.family in SECURITY_FAMILIES:
        properties["tags"].append("security")
        properties["security-severity"] = SECURITY_SEVERITY[rule.severity]
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.explanation},
        "help": {
            "text": rule.fix,
            "markdown": f"**Fix:** {rule.fix}\n\n{rule.explanation}\n\n`repro-audit rules {rule.id}` says the same.",
        },
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": properties,
    }


def _unknown(rule_id: str, placed: list[tuple[Entry, Finding, str]]) -> _Unknown:
    finding = next(finding for _entry, finding, _prefix_ in placed if finding.rule == rule_id)
    return _Unknown(
        id=finding.rule,
        name=finding.name,
        family=finding.family,
        severity=finding.severity,
        confidence=finding.confidence,
        summary=f"{finding.name} ({finding.family})",
        explanation=f"{finding.name} ({finding.family}).",
        fix=finding.fix,
    )


def _invocation(result: CheckResult) -> dict[str, Any]:
    invocation: dict[str, Any] = {"executionSuccessful": not result.errors}
    if result.errors:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": error}} for error in result.errors
        ]
    return invocation


def _result(entry: Entry, finding: Finding, prefix: str, rule_index: int, fingerprint: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [_location(finding.location, prefix)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
    }
    if finding.related:
        result["relatedLocations"] = [
            {"id": number, **_location(location, prefix, message=True)}
            for number, location in enumerate(finding.related, start=1)
        ]
    if finding.suppressed is not None:
        suppression: dict[str, Any] = {"kind": SUPPRESSION_KINDS.get(finding.suppressed.kind, "external")}
        if finding.suppressed.reason:
            suppression["justification"] = finding.suppressed.reason
        suppression["properties"] = {"source": finding.suppressed.kind}
        result["suppressions"] = [suppression]
    properties: dict[str, Any] = {
        "entry": entry.name,
        "severity": finding.severity.label,
        "confidence": finding.confidence.label,
    }
    if finding.target is not None:
        properties["target"] = finding.target
    if finding.evidence is not None:
        properties["evidence"] = finding.evidence
    if finding.secret is not None:
        properties["secret"] = {k: v for k, v in dataclasses.asdict(finding.secret).items() if v is not None}
    result["properties"] = properties
    return result


def _location(location: Location, prefix: str, *, message: bool = False) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(prefix, location.path), "uriBaseId": SRCROOT}}
    if location.line is not None and location.in_file_text:
        physical["region"] = {"startLine": location.line}
    sarif: dict[str, Any] = {"physicalLocation": physical}
    deeper = location_dict(location)
    if not location.in_file_text and location.line is not None:
        deeper["line"] = location.line
    if message or deeper:
        sarif["message"] = {"text": str(location)}
    if deeper:
        sarif["properties"] = deeper
    return sarif


def _fingerprints(placed: list[tuple[Finding, str]]) -> list[str]:
    """One fingerprint per finding, in order (see the module docstring for what goes in)."""
    keys = [_identity(finding, prefix) for finding, prefix in placed]
    groups: dict[str, list[int]] = defaultdict(list)
    for number, key in enumerate(keys):
        groups[key].append(number)
    rank = [0] * len(placed)
    for members in groups.values():
        members.sort(key=lambda number: _position(placed[number][0].location))
        for position, number in enumerate(members):
            rank[number] = position
    return [
        hashlib.sha256(f"{key}\0{rank[number]}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
        for number, key in enumerate(keys)
    ]


def _identity(finding: Finding, prefix: str) -> str:
    location = finding.location
    if finding.secret is not None:
        place = "history" if location.commit else "output" if location.output else "cell" if location.cell else ""
        content = ["secret", finding.secret.kind, finding.secret.fingerprint, place]
    else:
        content = [_without_line_numbers(finding.message), _without_line_numbers(finding.evidence or "")]
    parts = [finding.rule, _uri(prefix, location.path), location.member or "", finding.target or "", *content]
    return "\0".join(parts)


def _position(location: Location) -> tuple[int, int, int, int]:
    return (location.cell or 0, location.output or 0, location.line or 0, location.offset or 0)


def _without_line_numbers(text: str) -> str:
    return _LINE_NUMBERS.sub(lambda match: match.group(1).lower() + " #", text)
