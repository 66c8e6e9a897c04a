"""Image references in `FROM`: shared by the base-image rules.

Not a rule module: `split_image` and `image_stages` are the parsed view the base-image rules share.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from audit.views.dockerfile import DockerfileView, Stage
from audit.views.entry import EntryView


@dataclass(frozen=True)
class ImageRef:
    name: str
    tag: str | None
    digest: str | None


def split_image(reference: str) -> ImageRef:
    """`registry:5000/org/name:tag@sha256:...` into name, tag and digest."""
    rest, _, digest = reference.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return ImageRef(rest[:colon], rest[colon + 1 :] or None, digest or None)
    return ImageRef(rest, None, digest or None)


def image_stages(view: EntryView) -> Iterator[tuple[str, DockerfileView, Stage]]:
    """Stages whose FROM names a real image: not an earlier stage's alias, not `scratch`."""
    for target, dockerfile in view.dockerfiles():
        for stage in dockerfile.stages:
            if stage.base_is_stage or stage.base.lower() == "scratch" or not (stage.base or stage.unresolved):
                continue
            yield target.target.dockerfile, dockerfile, stage


def shown(stage: Stage) -> str:
    """The image as written, with what ARG defaults made of it when they changed it."""
    return stage.base_raw if stage.base == stage.base_raw else f"{stage.base_raw} (= {stage.base})"
