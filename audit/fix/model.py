"""The values a fix is made of: settings, edits, changes, notes, and the resolver interface."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Protocol

from audit.views.entry import EntryView

DEFAULT_INDEX = "https://pypi.org/simple"
KINDS = ("python", "base-image", "git", "hub")
"""The resolvers, in the order their changes are shown; `--skip KIND` turns one off."""


@dataclass(frozen=True)
class FixSettings:
    cutoff: datetime  # timezone-aware (UTC): nothing published at or after it is chosen
    cutoff_source: str  # where the cut-off came from, for the report ("--as-of", "the deadline in ...")
    index_url: str = DEFAULT_INDEX  # the package index Python dependencies are resolved against
    python_version: str | None = None  # "3.10": overrides what the base image tells
    hf_endpoint: str | None = None  # None: HF_ENDPOINT, else the Hub
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "repro-audit" / "fix")
    timeout: float = 600.0  # seconds for one external resolution (a pip-compile, a clone, an API call)
    skip: frozenset[str] = frozenset()  # resolver kinds turned off


@dataclass(frozen=True)
class Edit:
    """Replace `text[start:end]` of an entry file (as read by the entry's tree) by `new`."""

    path: str  # entry-relative, with forward slashes
    start: int
    end: int
    new: str


@dataclass(frozen=True)
class NewFile:
    path: str  # entry-relative
    text: str


@dataclass(frozen=True)
class Resolves:
    """A finding a change makes go away, named the way findings are located."""

    rule: str  # "RA201"
    path: str
    line: int | None


@dataclass(frozen=True)
class Change:
    kind: str  # one of KINDS
    summary: str  # one line: what is pinned to what
    edits: tuple[Edit, ...] = ()
    new_files: tuple[NewFile, ...] = ()
    resolves: tuple[Resolves, ...] = ()
    caveats: tuple[str, ...] = ()  # what the user should know ("torch pinned to the version named: ...")


@dataclass(frozen=True)
class Note:
    """Something a resolver could not do, and why: shown, never fatal."""

    kind: str
    path: str | None
    line: int | None
    message: str


Progress = Callable[[str], None]


def shown_url(url: str) -> str:
    """`url` fit to print or to write into a file: any user name or password in it replaced by `***`."""
    return re.sub(r"(://)[^/@\s]+@", r"\1***@", url)


class Resolver(Protocol):
    kind: ClassVar[str]

    def propose(self, view: EntryView, settings: FixSettings, progress: Progress) -> Iterable[Change | Note]:
        """The changes this resolver proposes for one entry, and notes on what it could not resolve.

        Must not write into the entry; may use `settings.cache_dir`. Expected failures (no network,
        a resolution conflict) are Notes, not exceptions."""
        ...
