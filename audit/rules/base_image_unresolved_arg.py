"""RA104: FROM uses an ARG that has no default."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.images import image_stages
from audit.views.entry import EntryView


class BaseImageUnresolvedArg(Rule):
    id = "RA104"
    name = "base-image-unresolved-arg"
    family = "base-image"
    severity = Severity.MEDIUM
    summary = "FROM ${ARG} where the ARG has no default"
    explanation = (
        "The base image depends on a `--build-arg` that the organizers' build command does not pass; "
        "without it the reference is empty or partial and the build fails or takes an unknown image."
    )
    fix = "Give the ARG a default naming a pinned image: `ARG BASE=pytorch/pytorch:2.1.0-...@sha256:...`."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for dockerfile, _df, stage in image_stages(view):
            if stage.unresolved:
                names = ", ".join(sorted(set(stage.unresolved)))
                yield self.finding(
                    f"base image {stage.base_raw} depends on ARG {names} which has no default",
                    dockerfile,
                    stage.instruction.start,
                    target=dockerfile,
                    evidence=stage.instruction.value,
                )
