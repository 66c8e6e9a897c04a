"""RA102: a tagged base image without an `@sha256:` digest."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.images import image_stages, shown, split_image
from audit.views.entry import EntryView


class BaseImageWithoutDigest(Rule):
    id = "RA102"
    name = "base-image-without-digest"
    family = "base-image"
    severity = Severity.LOW
    summary = "FROM name:tag without an @sha256 digest"
    explanation = (
        "Tags are mutable: publishers rebuild `2.1.0-cuda12.1` images for security fixes and registries "
        "re-point them. Only a digest names the exact bytes the entry was built on."
    )
    fix = "Append the digest the image has today: `docker inspect --format '{{index .RepoDigests 0}}' IMAGE`."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for dockerfile, _df, stage in image_stages(view):
            ref = split_image(stage.base)
            if stage.unresolved or ref.digest or ref.tag in (None, "latest"):
                continue
            yield self.finding(
                f"base image {shown(stage)} is not pinned to a digest",
                dockerfile,
                stage.instruction.start,
                target=dockerfile,
                evidence=stage.instruction.value,
            )
