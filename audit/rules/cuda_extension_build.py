"""RA701: CUDA extensions compiled from source during the build (flash-attn, xformers, apex, DeepSpeed ops)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from audit.model import Confidence, Finding, Severity
from audit.rules.base import Rule
from audit.rules.fetches import clones
from audit.views.entry import EntryView
from audit.views.installs import parse_install

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
                env = {k for ins in dockerfile.of("ENV") for k in re.findall(r"\b(DS_BUILD_\w+)", ins.value)}
                cwd_repo = None
                for cmd in step.commands:
                    if cmd.program == "cd" and len(cmd.argv) > 1:
                        cwd_repo = cloned.get(cmd.argv[1].rstrip("/"))
                    install = parse_install(cmd)
                    ds_ops = sorted(env | {k for k in cmd.assignments if k.startswith("DS_BUILD_")})
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
