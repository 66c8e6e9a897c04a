"""RA103: a nightly, dev, edge or canary base image tag."""

from __future__ import annotations

import re
from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.images import image_stages, shown, split_image
from audit.views.entry import EntryView

# "devel" is the CUDA toolkit flavour of nvidia/cuda and pytorch/pytorch, not a development build
PRERELEASE = re.compile(
    r"(^|[-_.])(nightly|nightlies|dev|edge|canary|unstable|snapshot|preview)(\d*)([-_.]|$)|\.dev\d+"
)


class BaseImagePrereleaseTag(Rule):
    id = "RA103"
    name = "base-image-prerelease-tag"
    family = "base-image"
    severity = Severity.MEDIUM
    summary = "FROM a nightly / dev / edge tag"
    explanation = (
        "Nightly and development images are rebuilt every day and old ones are deleted: the tag either "
        "points at different software by the time the organizers rebuild, or no longer exists at all."
    )
    fix = "Use a released tag (for PyTorch, the `X.Y.Z-cudaA.B-cudnnC-devel` images) and pin its digest."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for dockerfile, _df, stage in image_stages(view):
            tag = split_image(stage.base).tag
            if tag and PRERELEASE.search(tag.lower()):
                yield self.finding(
                    f"base image {shown(stage)} uses a pre-release tag {tag!r}",
                    dockerfile,
                    stage.instruction.start,
                    target=dockerfile,
                    evidence=stage.instruction.value,
                )
