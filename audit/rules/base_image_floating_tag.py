"""RA101: a base image with no tag or the `latest` tag."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.images import image_stages, shown, split_image
from audit.views.entry import EntryView


class BaseImageFloatingTag(Rule):
    id = "RA101"
    name = "base-image-floating-tag"
    family = "base-image"
    severity = Severity.HIGH
    summary = "FROM an image with no tag or with `latest`"
    explanation = (
        "An image without a tag means `latest`, which the publisher moves with every release: the image the "
        "organizers pull months later is not the one the entry was developed on, and CUDA, Python and "
        "PyTorch versions change under the submission."
    )
    fix = "Name an exact release tag and its digest: `FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel@sha256:...`."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for dockerfile, _df, stage in image_stages(view):
            if stage.unresolved:
                continue  # RA104 reports a FROM that cannot be resolved
            ref = split_image(stage.base)
            if ref.digest:
                continue
            if ref.tag is None or ref.tag == "latest":
                what = "no tag (that means `latest`)" if ref.tag is None else "the `latest` tag"
                yield self.finding(
                    f"base image {shown(stage)} has {what}",
                    dockerfile,
                    stage.instruction.start,
                    target=dockerfile,
                    evidence=stage.instruction.value,
                )
