"""Test helpers: write a small entry tree and audit it with a chosen set of rules; plain git for tests."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from audit.engine import CheckOptions, run_check
from audit.model import Finding
from audit.rules import REGISTRY


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def audit(root: Path, files: dict[str, str | bytes], rules: Iterable[str] | None = None) -> list[Finding]:
    """All findings (suppressed ones included) of the given rule ids on a tree written under root."""
    write_tree(root, files)
    wanted = set(rules) if rules is not None else {r.id for r in REGISTRY}
    selected = tuple(r for r in REGISTRY if r.id in wanted)  # registry order: input rules run last
    result = run_check([root], CheckOptions(rules=selected, jobs=1))
    return result.all_findings()


def caught(root: Path, files: dict[str, str | bytes], rule: str) -> list[Finding]:
    """Findings of exactly one rule."""
    return [f for f in audit(root, files, [rule]) if f.rule == rule]


def git_env(date: str | None = None, home: Path | None = None) -> dict[str, str]:
    """An environment for plain git in tests: no system or user config, a fixed identity, no prompt;
    `date` dates the commits made with it, `home` makes git read that user's ~/.gitconfig."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL="/nonexistent/repro-audit-tests/gitconfig",
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
        GIT_TERMINAL_PROMPT="0",
    )
    if date is not None:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    if home is not None:  # plain git as a user of this machine: their own ~/.gitconfig counts
        del env["GIT_CONFIG_GLOBAL"]
        env["HOME"] = str(home)
    return env
