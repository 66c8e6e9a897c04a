"""Absolute paths of a developer's machine, shared by RA506 and RA507.

Not a rule module. `/home/<user>`, `/Users/`, `/data*`, `/scratch`, `/mnt/` and Windows drive paths
are where submitters keep models and data on their own machines; a container sees them only when
the image creates them, which `created_paths` works out for a Dockerfile.
"""

from __future__ import annotations

import posixpath
import re

from audit.views.dockerfile import DockerfileView

HOST_PATH = re.compile(
    r"(?<![\w.$/-])(?:/home/[A-Za-z0-9._-]+(?:/[^\s\"':;,)]*)?|/Users/[^\s\"':;,)]+|/data[\w-]*(?:/[^\s\"':;,)]*)?"
    r"|/scratch[\w-]*(?:/[^\s\"':;,)]*)?|/mnt/[^\s\"':;,)]+|[A-Za-z]:\\[^\s\"']*)"
)
NEVER_LINUX = re.compile(r"^(/Users/|[A-Za-z]:\\)")
CREATING_OPTIONS = frozenset({"-O", "-o", "--output", "--output-document", "--local-dir", "--cache-dir", "-P",
                              "--directory-prefix", "-d", "--home", "--home-dir", "--target", "-t", "--prefix"})  # fmt: skip

COPYING_PROGRAMS = frozenset({"cp", "mv", "ln"})
COPYING_VALUE_OPTIONS = frozenset({"--suffix", "--no-preserve", "--sparse"})  # GNU long options taking a value


def host_paths(text: str) -> list[str]:
    return [m.group(0).rstrip("/.") or m.group(0) for m in HOST_PATH.finditer(text)]


def created_paths(dockerfile: DockerfileView) -> set[str]:
    """Folders and files the image itself creates: WORKDIR, COPY/ADD/VOLUME targets, mkdir, cp/mv/ln, clones, users."""
    created: set[str] = set()
    for ins in dockerfile.instructions:
        if ins.keyword == "WORKDIR" and ins.rest:
            created.add(ins.rest.strip().strip("\"'"))
        elif ins.keyword in ("COPY", "ADD") and len(ins.words()) >= 2:
            created.add(ins.words()[-1])
        elif ins.keyword == "VOLUME":
            created.update(w.strip('[]",') for w in ins.words())
    for _step, cmd in dockerfile.commands():
        args = cmd.argv[1:]
        if cmd.program in ("mkdir", "touch"):
            created.update(a for a in args if not a.startswith("-"))
        elif cmd.program in COPYING_PROGRAMS:
            destination = copy_destination(args)
            if destination is not None:
                created.add(destination)
        elif cmd.program in ("useradd", "adduser"):
            names = [a for a in args if not a.startswith("-")]
            if names:
                created.add(f"/home/{names[-1]}")
        elif cmd.program == "git" and "clone" in args:
            positional = [a for a in args[args.index("clone") + 1 :] if not a.startswith("-")]
            if len(positional) >= 2:
                created.add(positional[1])
        if cmd.program not in COPYING_PROGRAMS:  # their -d, -P and -t are not the downloaders' options
            for number, word in enumerate(args[:-1]):
                if word in CREATING_OPTIONS:
                    created.add(args[number + 1])
            for word in args:
                if word.startswith(("--output=", "--local-dir=", "--cache-dir=", "--target=")):
                    created.add(word.split("=", 1)[1])
        for _op, destination in cmd.redirects:
            created.add(destination)
    return {posixpath.normpath(p) for p in created if p.startswith("/")}


def copy_destination(args: list[str]) -> str | None:
    """The path `cp`, `mv` or `ln` creates: the `-t`/`--target-directory` value, else the last operand.

    The other operands are what is copied, moved or linked from, and the image does not make them.
    Options may come after operands (GNU getopt), until `--`; `-t` and `-S` take a value, attached or next.
    """
    operands: list[str] = []
    target: str | None = None
    words = iter(args)
    for word in words:
        if word == "--":
            operands.extend(words)
        elif word.startswith("--"):
            name, has_value, value = word.partition("=")
            if name in ("--target-directory", "--target"):
                target = value if has_value else next(words, None)
            elif name in COPYING_VALUE_OPTIONS and not has_value:
                next(words, None)
        elif word.startswith("-") and word != "-":
            for position, letter in enumerate(word[1:], start=2):  # a cluster such as `-rt DIR` or `-tDIR`
                if letter in "tS":
                    attached_or_next = word[position:] or next(words, None)
                    if letter == "t":
                        target = attached_or_next
                    break
        else:
            operands.append(word)
    if target is not None:
        return target
    return operands[-1] if len(operands) >= 2 else None


def is_created(path: str, created: set[str]) -> bool:
    normal = posixpath.normpath(path)
    return any(normal == c or normal.startswith(c.rstrip("/") + "/") for c in created)
