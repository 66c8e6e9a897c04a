"""The table of `repro-audit hosts`: one row per host profile, what was checked and why a host is not
usable. Takes the checks as plain dicts (`rebuild.checks.HostCheck.to_dict`)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reports.guard import guard


def render(rows: list[dict[str, Any]], console: Console, helm: dict[str, Any] | None = None) -> None:
    table = Table(title="Host profiles", title_justify="left")
    for column in ("host", "endpoint", "track", "engine", "GPUs", "free disk", "limits", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = "[green]usable[/]" if row["usable"] else "[red]NOT usable[/]"
        table.add_row(
            _text(row["name"]),
            _text(row["endpoint"]),
            _text(row["track"]),
            _text(row["engine"] or "-"),
            _text(_gpus(row)),
            _size(row["free_bytes"]),
            _text(row["limits"]),
            status,
        )
    console.print(table)
    for row in rows:
        for problem in row["problems"]:
            console.print(f"[red]{_text(row['name'])}[/]: {_text(problem)}", soft_wrap=True, highlight=False)
        for note in row["notes"]:
            console.print(f"{_text(row['name'])}: {_text(note)}", soft_wrap=True, highlight=False, style="dim")
    usable = sum(1 for row in rows if row["usable"])
    console.print(f"{usable} of {len(rows)} host profile(s) usable", highlight=False)
    if helm is not None:
        if helm["usable"]:
            console.print(f"HELM: crfm-helm {_text(helm['version'])} in {_text(helm['path'])}", highlight=False)
        else:
            console.print(
                "[red]HELM: not usable[/] (the eval stage will only check health and the API)", highlight=False
            )
        if helm.get("note"):
            console.print(f"HELM: {_text(helm['note'])}", soft_wrap=True, highlight=False, style="dim")


def _text(value: object) -> str:
    """Text from a profile or an engine, made safe: no secret, no rich markup."""
    return escape(guard(str(value)))


def _gpus(row: dict[str, Any]) -> str:
    if row["gpus_seen"]:
        return "\n".join(row["gpus_seen"])
    return str(row["gpu_note"])


def _size(value: int | None) -> str:
    if value is None:
        return "unknown"
    return f"{value / 1024**3:.1f} GiB"
