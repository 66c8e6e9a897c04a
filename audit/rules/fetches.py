"""What RUN lines download, shared by the fetch and build-risk rules.

Not a rule module: it finds `git clone`s and whether a later command checks out a commit, download
commands and whether a checksum is verified in the same Dockerfile stage.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

from audit.views.dockerfile import DockerfileView, RunStep
from audit.views.shell import SimpleCommand

COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
URL = re.compile(r"^(https?|ftp)://", re.IGNORECASE)
CHECKSUM_PROGRAMS = frozenset({"sha256sum", "sha512sum", "sha1sum", "md5sum", "shasum", "b2sum", "cksum", "gpg"})
GIT_VALUE_OPTIONS = frozenset({"-b", "--branch", "--depth", "-o", "--origin", "--reference", "-c", "--config",
                               "--filter", "-j", "--jobs", "--separate-git-dir", "--template", "-u", "--shallow-since"})  # fmt: skip


@dataclass
class Clone:
    step: RunStep
    command: SimpleCommand
    url: str
    folder: str
    branch: str | None
    pinned: bool  # a later command checks out / resets to a full commit


def clones(dockerfile: DockerfileView) -> Iterator[Clone]:
    steps = dockerfile.runs()
    for index, step in enumerate(steps):
        cwd = workdir_at(dockerfile, step)
        for position, cmd in enumerate(step.commands):
            if cmd.program == "cd":
                cwd = _cd(cwd, cmd)
            if cmd.program != "git" or "clone" not in cmd.argv[1:3]:
                continue
            args = cmd.argv[cmd.argv.index("clone") + 1 :]
            positional, branch, skip = [], None, False
            for number, word in enumerate(args):
                if skip:
                    skip = False
                    continue
                if word in GIT_VALUE_OPTIONS:
                    skip = True
                    if word in ("-b", "--branch") and number + 1 < len(args):
                        branch = args[number + 1]
                    continue
                if word.startswith("--branch="):
                    branch = word.split("=", 1)[1]
                if not word.startswith("-"):
                    positional.append(word)
            if not positional:
                continue
            url = positional[0]
            folder = positional[1] if len(positional) > 1 else url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
            pinned = _checks_out_commit(dockerfile, index, position, _resolve(cwd, folder))
            yield Clone(step, cmd, url, folder, branch, pinned)


def workdir_at(dockerfile: DockerfileView, step: RunStep) -> str | None:
    """The WORKDIR in effect when `step` starts: the last one of its stage before it, a relative one
    joined to the one before; "." stands for the base image's WORKDIR, which we cannot see."""
    cwd: str | None = "."
    for ins in dockerfile.of("WORKDIR"):
        if ins.stage == step.instruction.stage and ins.start < step.instruction.start:
            cwd = _resolve(cwd, ins.rest.strip())
    return cwd


def same_folder(here: str | None, folder: str | None) -> bool:
    """Whether the normalised path `here` names the cloned `folder`, by whole path components.

    Two absolute paths must be equal, and so must two paths relative to the stage's starting folder.
    When the two are anchored differently (one absolute, the other relative to the base image's
    WORKDIR or to a `$VARIABLE`), the shorter one's components must end the longer one's: `lib` is
    the clone `/opt/lib`, `mylib` is not the clone `lib`.
    """
    if here is None or folder is None:
        return False
    if _anchor(here) == _anchor(folder) != "$":
        return here == folder
    mine, theirs = _components(here), _components(folder)
    shorter = min(len(mine), len(theirs))
    return shorter > 0 and mine[-shorter:] == theirs[-shorter:]


def _anchor(path: str) -> str:
    return path[0] if path.startswith(("/", "$")) else "."


def _components(path: str) -> list[str]:
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return parts[1:] if parts and parts[0].startswith("$") else parts


def _resolve(cwd: str | None, path: str) -> str | None:
    """`path` normalised and joined to `cwd` when relative; None when the folder cannot be followed."""
    if path.startswith(("/", "$")):
        return posixpath.normpath(path)
    if cwd is None or path in ("", "-") or path.startswith("~"):
        return None  # `cd`, `cd -`, `cd ~`, or relative to such a place
    return posixpath.normpath(posixpath.join(cwd, path))


def _cd(cwd: str | None, cmd: SimpleCommand) -> str | None:
    targets = [word for word in cmd.argv[1:] if word == "-" or not word.startswith("-")]
    return _resolve(cwd, targets[0] if targets else "")


def _checks_out_commit(dockerfile: DockerfileView, step_index: int, position: int, folder: str | None) -> bool:
    """A later `git checkout|reset|switch|fetch <commit>` run inside the cloned folder.

    Inside means after `cd <folder>` in the same RUN, via `git -C <folder>`, or in a later RUN of the
    stage whose WORKDIR in effect is that folder; a checkout elsewhere pins some other clone.
    """
    if folder is None:
        return False
    steps = dockerfile.runs()
    for index in range(step_index, len(steps)):
        step = steps[index]
        cwd = workdir_at(dockerfile, step)
        for number, cmd in enumerate(step.commands):
            if cmd.program == "cd":
                cwd = _cd(cwd, cmd)
                continue
            if (index == step_index and number <= position) or cmd.program != "git":
                continue
            words = cmd.argv[1:]
            here = cwd
            if len(words) >= 2 and words[0] == "-C":
                here, words = _resolve(cwd, words[1]), words[2:]
            pins = bool(words) and words[0] in ("checkout", "reset", "switch", "fetch")
            if pins and any(COMMIT.match(w) for w in words[1:]) and same_folder(here, folder):
                return True
    return False


def downloads(step: RunStep) -> Iterator[tuple[SimpleCommand, str]]:
    """`wget URL`, `curl URL` commands with the URL they fetch."""
    for cmd in step.commands:
        if cmd.program in ("wget", "curl"):
            for word in cmd.argv[1:]:
                if URL.match(word):
                    yield cmd, word
                    break


def verifies_checksum(dockerfile: DockerfileView, step: RunStep, cmd: SimpleCommand, url: str) -> bool:
    """A checksum or signature check of the downloaded file, in this RUN or a later one of the stage."""
    names = {url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]}
    for option, value in zip(cmd.argv, cmd.argv[1:], strict=False):
        if option in ("-O", "-o", "--output", "--output-document"):
            names.add(value.rsplit("/", 1)[-1])
    names.update(target.rsplit("/", 1)[-1] for _op, target in cmd.redirects)
    names.discard("")
    stage = step.instruction.stage
    for later in dockerfile.runs():
        if later.instruction.stage != stage or later.instruction.start < step.instruction.start:
            continue
        for check in later.commands:
            uses_hashlib = check.program.startswith("python") and "hashlib" in " ".join(check.argv)
            if check.program not in CHECKSUM_PROGRAMS and not uses_hashlib:
                continue
            words = " ".join(check.argv + (check.piped_from.argv if check.piped_from else []))
            if later is step or any(name in words for name in names):
                return True
    return False
