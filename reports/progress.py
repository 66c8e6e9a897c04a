"""Progress of a run: a live rich display on a terminal, one plain line per finished stage otherwise (CI)."""

from __future__ import annotations

import time
from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from reports.guard import guard


class PlainProgress:
    """A line per finished stage and per note, with a running count: readable in a CI log."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.total = 0
        self.done = 0
        self.counts: Counter[str] = Counter()
        self.started_at = time.monotonic()
        self._starts: dict[tuple[str, str], float] = {}

    def planned(self, total: int) -> None:
        self.total = total
        self.console.print(f"repro-audit: {total} stage run(s) to do", markup=False, highlight=False, soft_wrap=True)

    def started(self, entry: str, stage: str) -> None:
        self._starts[(entry, stage)] = time.monotonic()

    def finished(self, entry: str, stage: str, status: str, reason: str | None) -> None:
        self.done += 1
        self.counts[status] += 1
        started = self._starts.pop((entry, stage), None)
        took = f" ({time.monotonic() - started:.1f} s)" if started is not None else ""
        why = f": {reason}" if reason and status != "passed" else ""
        self.console.print(
            guard(f"[{self.done}/{self.total}] {entry} {stage} {status}{took}{why}"),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    def note(self, message: str) -> None:
        self.console.print(guard(f"repro-audit: {message}"), markup=False, highlight=False, soft_wrap=True)


class LiveProgress(PlainProgress):
    """A progress bar with counts per status, elapsed time and an estimate of the time left."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[statuses]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.bar.add_task("stages", total=None, statuses="")
        self.running: Counter[str] = Counter()

    def planned(self, total: int) -> None:
        self.total = total
        self.bar.update(self.task, total=total)
        self.bar.start()

    def started(self, entry: str, stage: str) -> None:
        super().started(entry, stage)
        self.running[stage] += 1
        self._refresh()

    def finished(self, entry: str, stage: str, status: str, reason: str | None) -> None:
        self.done += 1
        self.counts[status] += 1
        self.running[stage] = max(0, self.running[stage] - 1)
        self._starts.pop((entry, stage), None)
        if status in ("failed", "errored"):
            self.bar.console.print(guard(f"{entry} {stage} {status}: {reason or ''}"), markup=False, highlight=False)
        self.bar.advance(self.task)
        self._refresh()

    def note(self, message: str) -> None:
        self.bar.console.print(guard(f"repro-audit: {message}"), markup=False, highlight=False)

    def stop(self) -> None:
        self.bar.stop()

    def _refresh(self) -> None:
        running = " ".join(f"{stage} {n}" for stage, n in self.running.items() if n)
        done = " ".join(f"{status} {n}" for status, n in sorted(self.counts.items()))
        self.bar.update(self.task, statuses=f"running: {running or '-'} | done: {done or '-'}")
