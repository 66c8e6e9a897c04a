"""The terminal report: findings grouped by entry and build target, severity colours, a summary table."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from audit.model import CheckResult, EntryReport, Finding, Severity

STYLES = {Severity.HIGH: "bold red", Severity.MEDIUM: "yellow", Severity.LOW: "cyan", Severity.INFO: "dim"}


def render(
    result: CheckResult, console: Console, min_severity: Severity = Severity.LOW, show_suppressed: bool = False
) -> None:
    for report in result.entries:
        _entry(report, console, min_severity, show_suppressed)
    _shared_secrets(result, console)
    _summary(result, console, min_severity)


def _entry(report: EntryReport, console: Console, min_severity: Severity, show_suppressed: bool) -> None:
    entry = report.entry
    track = f"  track {entry.track}" if entry.track else ""
    console.rule(Text.assemble((entry.name, "bold"), (track, "dim")), align="left")
    if not entry.targets:
        console.print("  [dim]no Dockerfile found: nothing to build[/]")
    shown = [f for f in report.findings if f.severity >= min_severity and (f.counts or show_suppressed)]
    by_target: dict[str | None, list[Finding]] = defaultdict(list)
    for finding in shown:
        by_target[finding.target].append(finding)
    for target in entry.targets:
        console.print(
            f"  [bold]{escape(target.dockerfile)}[/]  [magenta]{target.role.value}[/] "
            f"[dim]({escape(target.role_reason)}; context {escape(target.context)})[/]"
        )
        _findings(by_target.pop(target.dockerfile, []), console)
    rest = [f for findings in by_target.values() for f in findings]
    if rest:
        console.print("  [bold]other files[/]")
        _findings(rest, console)
    if report.secrets:
        console.print(f"  [bold]secrets[/] {len(report.secrets)} distinct")
        for secret in report.secrets:
            places = ", ".join(secret.paths[:4]) + (
                f" and {len(secret.paths) - 4} more" if len(secret.paths) > 4 else ""
            )
            console.print(
                Text(
                    f"    {secret.label} {secret.redacted} [{secret.fingerprint}] in {_LIVES.get(secret.lives, secret.lives)}: {places}",
                    style="red",
                )
            )
    hidden = len(report.findings) - len(shown)
    if hidden:
        console.print(f"  [dim]{hidden} more below {min_severity.label} or suppressed (see --min-severity, JSON)[/]")
    if not report.findings:
        console.print("  [green]nothing found[/]")


def _findings(findings: list[Finding], console: Console) -> None:
    for f in findings:
        style = STYLES[f.severity]
        line = Text("    ")
        line.append(f"{f.severity.label:<6}", style=style)
        line.append(f" {f.rule} ", style="bold")
        line.append(str(f.location), style="blue")
        line.append(f"  {f.message}")
        if f.suppressed is not None:
            line.append(f"  [suppressed: {f.suppressed.reason}]", style="dim")
        console.print(line)
        console.print(Text(f"           fix: {f.fix}", style="dim"))


_LIVES = {
    "tree": "the tree only",
    "history": "git history only",
    "both": "the tree and git history",
    "image": "a built image",
}


def _shared_secrets(result: CheckResult, console: Console) -> None:
    """Tokens copied across entries (starter code), once each, with every entry holding them."""
    shared = result.shared_secrets()
    if not shared:
        return
    console.print()
    console.rule(Text(f"secrets shared by several entries ({len(shared)})", style="bold"), align="left")
    for secret, names in shared:
        console.print(Text(f"  {secret.label} {secret.redacted} [{secret.fingerprint}] in {len(names)} entries:"))
        for name in names:
            console.print(Text(f"    {name}", style="blue"))


def _summary(result: CheckResult, console: Console, min_severity: Severity) -> None:
    table = Table(title="Summary", title_justify="left", show_edge=False)
    table.add_column("entry", overflow="fold")
    table.add_column("track")
    table.add_column("targets", justify="right")
    for severity in sorted(Severity, reverse=True):
        table.add_column(severity.label, justify="right", style=STYLES[severity])
    table.add_column("suppressed", justify="right", style="dim")
    for report in result.entries:
        counts = {s: 0 for s in Severity}
        for f in report.counting():
            counts[f.severity] += 1
        suppressed = len(report.findings) - len(report.counting())
        table.add_row(
            escape(report.entry.name),
            report.entry.track or "-",
            str(len(report.entry.targets)),
            *(str(counts[s]) for s in sorted(Severity, reverse=True)),
            str(suppressed),
        )
    console.print()
    console.print(table)
    failing = len(result.failing())
    if failing:
        console.print(
            f"[bold red]{failing} finding(s) at or above {result.fail_on.label}[/] (--fail-on {result.fail_on.label})"
        )
    else:
        console.print(f"[green]nothing at or above {result.fail_on.label}[/]")
