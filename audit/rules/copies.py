"""COPY/ADD sources resolved against the build context: shared by the copy-source rules.

Not a rule module. Skips what is not a file of the context: `--from` copies, URLs, heredocs and
sources built from variables, which cannot be resolved statically.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from audit.views.context import BuildContext, Resolution
from audit.views.dockerfile import Instruction
from audit.views.entry import EntryView


@dataclass(frozen=True)
class CopySource:
    dockerfile: str
    instruction: Instruction
    resolution: Resolution
    context: BuildContext

    @property
    def whole_context(self) -> bool:
        return self.resolution.source.strip("/") in (".", "", "./")


def copy_sources(view: EntryView) -> Iterator[CopySource]:
    for target, dockerfile in view.dockerfiles():
        for ins in dockerfile.of("COPY", "ADD"):
            if "from" in ins.flags:
                continue
            words = ins.words()
            for source in words[:-1]:
                if source.startswith("<<") or "://" in source or source.startswith("git@") or "$" in source:
                    continue
                yield CopySource(target.target.dockerfile, ins, target.context.resolve(source), target.context)


def all_excluded(matches: list[str], excluded: list[str]) -> bool:
    return bool(matches) and len(excluded) == len(matches)
