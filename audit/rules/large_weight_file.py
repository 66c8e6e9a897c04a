"""RA508: model weight files of 100 MiB or more committed to the repository."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.views.entry import EntryView

WEIGHT_SUFFIXES = (".bin", ".safetensors", ".pt", ".pth", ".ckpt", ".gguf", ".ggml", ".h5", ".onnx", ".msgpack",
                   ".model", ".pkl", ".npz", ".tflite", ".engine")  # fmt: skip
LIMIT = 100 * 1024 * 1024  # GitHub refuses files over 100 MiB without Git LFS


class LargeWeightFile(Rule):
    id = "RA508"
    name = "large-weight-file"
    family = "host-local"
    severity = Severity.MEDIUM
    summary = "model weights of 100 MiB or more in the repository"
    explanation = (
        "GitHub refuses files over 100 MiB, so weights this big reach the organizers only through Git LFS "
        "(a clone without `git lfs pull` gets a small pointer file) or not at all; the build or the "
        "server then loads a file that is not there or not weights."
    )
    fix = "Publish the weights on the Hub and download them by commit revision, or document the Git LFS step."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for info in view.tree.files.values():
            if info.size >= LIMIT and info.path.lower().endswith(WEIGHT_SUFFIXES):
                yield self.finding(
                    f"{info.path} is {info.size / 1024 / 1024:.0f} MiB of model weights committed to the repository",
                    info.path,
                )
