"""What the benchmark scripts share: argument checks, writing the figures, leaving the work folder.

A sibling module of the scripts (not a package): each script puts its own folder on `sys.path` first.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be at least 0")
    return value


def write_figures(path: Path | None, figures: dict[str, Any]) -> None:
    """`--json FILE`: the figures as printed, for machines."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"\nfigures written to {path}")


def leave_workdir(workdir: Path, temporary: bool, keep: bool) -> None:
    """Remove a temporary work folder, unless `--keep` asked to look at it."""
    if temporary and not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    elif temporary:
        print(f"kept {workdir}", file=sys.stderr)
