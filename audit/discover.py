"""From a path on disk to entries and their build targets.

A path is either one submission (a repository folder) or an organizers' archive laid out as
`<track>/<github-user>/<repo>/` with tracks `A100` and `4090` (the path may also be one track
folder). Inside an entry every `Dockerfile`, `Dockerfile.*`, `*.Dockerfile` and `Containerfile` is a
build target whose context is its own folder (what the organizers' scripts used), unless the
config's `contexts` table says otherwise. Each target's role is inferred and the reason kept.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from audit.model import Entry, Role, Target
from audit.tree import SKIPPED_DIRS, EntryTree
from audit.views.dockerfile import parse_dockerfile

TRACKS = {"a100": "A100", "4090": "4090", "rtx4090": "4090", "a100-40gb": "A100", "rtx4090-24gb": "4090"}
TRAIN_WORDS = ("train", "training", "finetune", "fine-tune", "fine_tune", "sft")
INFERENCE_WORDS = ("inference", "infer", "serve", "server", "serving", "api", "eval", "helm")
TRAIN_COMMAND = re.compile(
    r"(^|[\s/\"'])(train|finetune|fine_tune|sft|run_clm|run_sft)[\w.-]*\.(py|sh)\b|accelerate\s+launch|torchrun|"
    r"deepspeed\s|tune\s+run|axolotl|litgpt\s+finetune|lit_gpt.*finetune|finetune/"
)
SERVER_COMMAND = re.compile(
    r"uvicorn|gunicorn|hypercorn|fastapi|flask\s+run|--port[ =]80\b|main:app|server\.py|app\.py"
)


class DiscoveryError(Exception):
    """The path cannot be audited (does not exist, is not a folder): a usage error."""


@dataclass(frozen=True)
class EntrySource:
    name: str
    path: Path
    track: str | None


def find_entries(path: Path) -> list[EntrySource]:
    """The entries under `path`; folders holding no file at all are not entries (a failed clone)."""
    return [source for source in _candidates(path) if _has_files(source.path)]


def _has_files(folder: Path) -> bool:
    return any(files for _root, _dirs, files in os.walk(folder))


def _candidates(path: Path) -> list[EntrySource]:
    if not path.exists():
        raise DiscoveryError(f"{path} does not exist")
    if not path.is_dir():
        raise DiscoveryError(f"{path} is not a folder: give a submission's folder or an archive folder")
    resolved = path.resolve()
    track_dirs = [child for child in _subdirs(resolved) if child.name.lower() in TRACKS]
    if track_dirs:
        return [e for track_dir in track_dirs for e in _track_entries(track_dir, TRACKS[track_dir.name.lower()])]
    if resolved.name.lower() in TRACKS and not looks_like_repo(resolved):
        return _track_entries(resolved, TRACKS[resolved.name.lower()])
    return [EntrySource(resolved.name or str(resolved), resolved, None)]


def _track_entries(track_dir: Path, track: str) -> list[EntrySource]:
    entries = []
    for user in _subdirs(track_dir):
        if looks_like_repo(user):
            entries.append(EntrySource(f"{track}/{user.name}", user, track))
            continue
        for repo in _subdirs(user):
            entries.append(EntrySource(f"{track}/{user.name}/{repo.name}", repo, track))
    return entries


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(
            (
                Path(e.path)
                for e in os.scandir(folder)
                if e.is_dir(follow_symlinks=False) and e.name not in SKIPPED_DIRS
            ),
            key=lambda p: p.name,
        )
    except OSError:
        return []


def looks_like_repo(folder: Path) -> bool:
    """A folder that holds a submission itself rather than folders of submissions."""
    try:
        names = {e.name for e in os.scandir(folder)}
    except OSError:
        return False
    return bool(names & {".git", "Dockerfile", "Containerfile", "README.md", "main.py", "requirements.txt"})


def is_dockerfile(name: str) -> bool:
    lower = name.lower()
    return (
        lower in ("dockerfile", "containerfile")
        or (lower.startswith(("dockerfile.", "containerfile.")) and not lower.endswith(".dockerignore"))
        or lower.endswith((".dockerfile", ".containerfile"))
    )


def build_entry(source: EntrySource, tree: EntryTree, contexts: dict[str, str], track: str | None = None) -> Entry:
    targets = []
    for path in sorted(tree.files):
        if is_dockerfile(posixpath.basename(path)):
            folder = posixpath.dirname(path) or "."
            context = contexts.get(path, folder)
            role, reason = infer_role(path, tree)
            targets.append(Target(path, context, role, reason))
    return Entry(source.name, str(source.path), source.track or track, tuple(targets))


def infer_role(path: str, tree: EntryTree) -> tuple[Role, str]:
    """Train or inference, from the file name, its folder, then what the container runs."""
    name = posixpath.basename(path).lower()
    stem = re.sub(r"^(dockerfile|containerfile)[._-]?|[._-]?(dockerfile|containerfile)$", "", name)
    for words, role in ((TRAIN_WORDS, Role.TRAIN), (INFERENCE_WORDS, Role.INFERENCE)):
        if stem and any(stem == w or stem.startswith(w) for w in words):
            return role, f"file name {posixpath.basename(path)!r}"
    for folder in reversed(posixpath.dirname(path).lower().split("/")):
        for words, role in ((TRAIN_WORDS, Role.TRAIN), (INFERENCE_WORDS, Role.INFERENCE)):
            if folder in words:
                return role, f"folder {folder!r}"
    text = tree.read_text(path)
    if text is None:
        return Role.UNKNOWN, "the Dockerfile could not be read"
    view = tree.memo("dockerfile", path, lambda: parse_dockerfile(path, text.text))
    command = " ".join(view.final_command())
    if command and TRAIN_COMMAND.search(command):
        return Role.TRAIN, f"runs {command[:60]!r}"
    if command and SERVER_COMMAND.search(command):
        return Role.INFERENCE, f"serves {command[:60]!r}"
    for ins in view.of("EXPOSE"):
        if re.search(r"(^|\s)80(/tcp)?(\s|$)", ins.rest):
            return Role.INFERENCE, "exposes port 80"
    if command:
        return Role.UNKNOWN, f"runs {command[:60]!r}, neither a training script nor a server"
    return Role.UNKNOWN, "no CMD or ENTRYPOINT, and neither file name nor folder tells"
