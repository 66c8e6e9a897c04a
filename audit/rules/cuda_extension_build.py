"""RA701: CUDA extensions compiled from source during the build (flash-attn, xformers, apex, DeepSpeed ops)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator

from audit.model import Confidence, Finding, Severity
from audit.rules.base import Rule
from audit.rules.fetches import clones
from audit.views.dockerfile import DockerfileView, substitute
from audit.views.entry import EntryView
from audit.views.installs import parse_install
from audit.views.shell import tokenize

COMPILED_PACKAGES = re.compile(r"^(flash[-_]attn|xformers|apex|deepspeed|auto[-_]gptq|vllm|bitsandbytes|"
                               r"causal[-_]conv1d|mamba[-_]ssm|megablocks|triton)\b", re.IGNORECASE)  # fmt: skip
EXTENSION_REPOS = re.compile(r"flash-attention|xformers|NVIDIA/apex|DeepSpeed|AutoGPTQ|causal-conv1d|mamba", re.I)
PREBUILT_WHEEL = re.compile(r"\.whl$|download\.pytorch\.org|/releases/download/")


class CudaExtensionBuild(Rule):
    id = "RA701"
    name = "cuda-extension-build"
    family = "build-risk"
    severity = Severity.MEDIUM
    confidence = Confidence.MEDIUM
    summary = "CUDA extension compiled from source in the build"
    explanation = (
        "flash-attn, xformers, apex and DeepSpeed ops compile CUDA kernels when no prebuilt wheel matches the "
        "image's Python, PyTorch and CUDA: that takes from 30 minutes to several hours on a build machine, "
        "needs the CUDA toolkit (a `devel` image) and a lot of RAM, and often fails. The competition's "
        "rebuilds timed out on exactly these."
    )
    fix = (
        "Install a prebuilt wheel matching the image (pin its URL and hash), or build it once into a pinned base image."
    )

    def check(self, view: EntryView) -> Iterator[Finding]:
        for target, dockerfile in view.dockerfiles():
            path = target.target.dockerfile
            cloned = {c.folder: c for c in clones(dockerfile) if EXTENSION_REPOS.search(c.url)}
            for step in dockerfile.runs():
                env = _environment(dockerfile, step.instruction.stage, step.instruction.start)
                cwd_repo = None
                for cmd in step.commands:
                    if cmd.program == "cd" and len(cmd.argv) > 1:
                        cwd_repo = cloned.get(cmd.argv[1].rstrip("/"))
                    if cmd.program == "export":
                        env.update(_expand(_assignments(cmd.argv[1:]), env))
                    install = parse_install(cmd)
                    ds_ops = _ds_build_ops(env | _expand(cmd.assignments.items(), env))
                    if install is not None:
                        for graded in install.packages:
                            name = graded.name or graded.text
                            local = posixpath.normpath(graded.path) if graded.path else ""
                            repo = (cwd_repo if local == "." else None) or cloned.get(local)
                            if graded.path is not None and repo is not None:
                                yield self._finding(path, step.instruction.line_of(graded.text),
                                                    f"builds {repo.url} from source", " ".join(cmd.argv))  # fmt: skip
                            elif COMPILED_PACKAGES.match(name) and not PREBUILT_WHEEL.search(graded.text):
                                if _ships_wheels(name, install.no_build_isolation, ds_ops):
                                    continue
                                ops = f" with {', '.join(ds_ops)}" if ds_ops and "deepspeed" in name.lower() else ""
                                yield self._finding(path, step.instruction.line_of(graded.text),
                                                    f"installs {graded.text}{ops}, which compiles CUDA code when "
                                                    "no wheel matches the image", " ".join(cmd.argv))  # fmt: skip
                    elif cwd_repo and cmd.program.startswith("python") and "setup.py" in cmd.argv:
                        yield self._finding(path, step.instruction.line_of("setup.py"),
                                            f"runs setup.py of {cwd_repo.url}", " ".join(cmd.argv))  # fmt: skip

    def _finding(self, path: str, line: int, what: str, evidence: str) -> Finding:
        return self.finding(
            f"the build {what}: CUDA compilation can take hours and exceed the build time limit",
            path,
            line,
            target=path,
            evidence=evidence,
        )


def _ships_wheels(name: str, no_build_isolation: bool, ds_ops: list[str]) -> bool:
    """Installs that do not compile here: plain DeepSpeed builds its ops just in time at run time, and
    bitsandbytes, triton and vllm ship wheels unless a source build is forced."""
    lower = name.lower()
    if lower.startswith("deepspeed"):
        return not ds_ops
    return lower.startswith(("bitsandbytes", "triton", "vllm")) and not no_build_isolation


def _ds_build_ops(env: dict[str, str]) -> list[str]:
    """The `DS_BUILD_*` switches that ask DeepSpeed to compile ops: setup.py reads them with `int()`, so
    `0` and an empty value leave the ops to be built just in time; DS_BUILD_STRING is a version suffix."""
    switched = []
    for name, value in env.items():
        if not name.startswith("DS_BUILD_") or name == "DS_BUILD_STRING" or not value.strip():
            continue
        try:
            on = int(value) != 0
        except ValueError:
            on = True  # not a number: setup.py fails on it, the install is not a plain wheel install either
        if on:
            switched.append(name)
    return sorted(switched)


def _environment(dockerfile: DockerfileView, stage: int, before: int, with_args: bool = True) -> dict[str, str]:
    """The ENV and ARG values a RUN at line `before` of `stage` sees: those its stage set before it, and
    the ENV (not the ARG) of the earlier stage it is built FROM."""
    env: dict[str, str] = {}
    own = next((s for s in dockerfile.stages if s.index == stage), None)
    if own is not None and own.base_is_stage:
        parent = next((s for s in dockerfile.stages if s.alias and s.alias.lower() == own.base.lower()), None)
        if parent is not None and parent.index < stage:
            env.update(_environment(dockerfile, parent.index, own.instruction.start, with_args=False))
    from_env = set(env)
    for ins in dockerfile.of("ENV", "ARG"):
        if ins.stage != stage or ins.start >= before:
            continue
        words = tokenize(ins.rest)
        if ins.keyword == "ENV":
            if words and "=" not in words[0]:
                pairs = _expand([(words[0], " ".join(words[1:]))], env)  # legacy form: ENV NAME value
            else:
                pairs = _expand(_assignments(words), env)
            env.update(pairs)
            from_env.update(pairs)
        elif with_args:
            for word in words:
                name, eq, default = word.partition("=")
                if name in from_env:
                    continue  # an ENV wins over an ARG of the same name
                if eq:
                    env.update(_expand([(name, default)], env))
                elif dockerfile.global_args.get(name):
                    env[name] = dockerfile.global_args[name] or ""
    return env


def _assignments(words: list[str]) -> list[tuple[str, str]]:
    """The `NAME=value` words (shell quotes already removed) as pairs."""
    return [(name, value) for name, eq, value in (word.partition("=") for word in words) if eq and name]


def _expand(pairs: Iterable[tuple[str, str]], env: dict[str, str]) -> dict[str, str]:
    """Values with `$VAR` / `${VAR}` taken from `env`; an unknown variable is empty, as in the build."""
    known: dict[str, str | None] = dict(env)
    return {name: substitute(value, known)[0] for name, value in pairs}
