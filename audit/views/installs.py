"""Package installs found in shell commands: pip, pip3, python -m pip, uv pip, conda, mamba, micromamba.

Each install keeps the words it installs (graded by `audit.views.requirements`), the requirement and
constraint files it reads, the indexes it uses and the flags that matter (`--upgrade`,
`--no-build-isolation`). Option tables follow `pip install --help` (pip 24-26) and conda's CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from audit.views.requirements import Graded, grade_conda, grade_pip
from audit.views.shell import SimpleCommand

PIP_PROGRAM = re.compile(r"^pip[0-9.]*$")
PYTHON_PROGRAM = re.compile(r"^python[0-9.]*$")
CONDA_PROGRAMS = frozenset({"conda", "mamba", "micromamba"})

# pip options that take a value (so the next word is not a package)
PIP_VALUE_OPTIONS = frozenset(
    {
        "-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-t", "--target", "--platform",
        "--python-version", "--implementation", "--abi", "--root", "--prefix", "--src", "--upgrade-strategy",
        "-C", "--config-settings", "--global-option", "--install-option", "--no-binary", "--only-binary",
        "--progress-bar", "--root-user-action", "--report", "-i", "--index-url", "--extra-index-url",
        "-f", "--find-links", "--log", "--proxy", "--retries", "--timeout", "--exists-action",
        "--trusted-host", "--cert", "--client-cert", "--cache-dir", "--keyring-provider", "--python",
        "--use-feature", "--use-deprecated", "--uploaded-prior-to", "--group", "--extra",
        "--index-strategy", "--resolution", "--prerelease", "--exclude-newer", "--link-mode", "-p",
    }
)  # fmt: skip
CONDA_VALUE_OPTIONS = frozenset(
    {"-c", "--channel", "-n", "--name", "-p", "--prefix", "--file", "--repodata-fn", "--solver", "-f"}
)


@dataclass
class Install:
    installer: str  # "pip", "uv pip", "conda", "mamba", "micromamba"
    packages: list[Graded] = field(default_factory=list)
    requirement_files: list[str] = field(default_factory=list)
    constraint_files: list[str] = field(default_factory=list)
    index_urls: list[str] = field(default_factory=list)
    upgrade: bool = False
    no_build_isolation: bool = False
    env: dict[str, str] = field(default_factory=dict)


def parse_install(cmd: SimpleCommand) -> Install | None:
    """The install this command performs, or None when it does not install packages."""
    argv = cmd.argv
    if not argv:
        return None
    program = cmd.program
    if PIP_PROGRAM.match(program):
        rest, installer = argv[1:], "pip"
    elif PYTHON_PROGRAM.match(program):
        args = argv[1:]
        while args and args[0].startswith("-") and args[0] != "-m":
            args = args[1:]
        if len(args) < 2 or args[0] != "-m" or args[1] != "pip":
            return None
        rest, installer = args[2:], "pip"
    elif program == "uv" and len(argv) > 2 and argv[1] == "pip":
        rest, installer = argv[2:], "uv pip"
    elif program in CONDA_PROGRAMS:
        return _parse_conda(program, argv[1:], cmd)
    else:
        return None
    if not rest or rest[0] != "install":
        return None
    install = Install(installer=installer, env=dict(cmd.assignments))
    _parse_pip_args(rest[1:], install)
    return install


def _parse_pip_args(args: list[str], install: Install) -> None:
    index = 0
    while index < len(args):
        word = args[index]
        if re.match(r"^-[a-zA-Z]{2,}$", word) and word[1:2] not in "rcietf" and "-" + word[1] not in PIP_VALUE_OPTIONS:
            # "-qU" / "-Ur file": flags bundled behind one dash; a value-taking letter ends the bundle
            letters = word[1:]
            for position, letter in enumerate(letters):
                flag = "-" + letter
                if flag in ("-U",):
                    install.upgrade = True
                if flag in PIP_VALUE_OPTIONS:
                    rest = letters[position + 1 :]
                    args = [*args[: index + 1], flag, *([rest] if rest else []), *args[index + 1 :]]
                    break
            index += 1
            continue
        name, eq, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if word.startswith("-"):
            value: str | None = inline if eq else None
            takes_value = name in PIP_VALUE_OPTIONS or (
                len(name) > 2 and not name.startswith("--") and name[:2] in PIP_VALUE_OPTIONS
            )
            if takes_value and value is None:
                if len(name) > 2 and not name.startswith("--"):
                    value, name = name[2:], name[:2]  # "-rrequirements.txt"
                elif index + 1 < len(args):
                    index += 1
                    value = args[index]
            if name in ("-U", "--upgrade"):
                install.upgrade = True
            elif name == "--no-build-isolation":
                install.no_build_isolation = True
            elif name in ("-r", "--requirement") and value:
                install.requirement_files.append(value)
            elif name in ("-c", "--constraint") and value:
                install.constraint_files.append(value)
            elif name in ("-i", "--index-url", "--extra-index-url") and value:
                install.index_urls.append(value)
            elif name in ("-e", "--editable") and value:
                install.packages.append(grade_pip(value, editable=True))
            index += 1
            continue
        if not _is_noise(word):
            install.packages.append(grade_pip(word))
        index += 1


def _parse_conda(program: str, args: list[str], cmd: SimpleCommand) -> Install | None:
    if not args or args[0] not in ("install", "create", "update", "upgrade"):
        return None
    install = Install(installer=program, env=dict(cmd.assignments))
    install.upgrade = args[0] in ("update", "upgrade")
    index = 1
    while index < len(args):
        word = args[index]
        if word.startswith("-"):
            name, eq, value = word.partition("=")
            if name in CONDA_VALUE_OPTIONS and not eq and index + 1 < len(args):
                index += 1
                value = args[index]
            if name in ("--file", "-f") and value:
                install.requirement_files.append(value)
            index += 1
            continue
        if not _is_noise(word):
            install.packages.append(grade_conda(word))
        index += 1
    return install


def _is_noise(word: str) -> bool:
    """Words that are not packages: shell leftovers such as `$(cat x)`, variables, lone numbers."""
    return not word or word.startswith("$") or word.isdigit() or word in ("\\", "(", ")")
