"""RA506: absolute paths of the submitter's machine in ENV, ARG, RUN or WORKDIR."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Confidence, Finding, Severity
from audit.rules.base import Rule
from audit.rules.host_paths import NEVER_LINUX, created_paths, host_paths, is_created
from audit.views.entry import EntryView


class HostPathInDockerfile(Rule):
    id = "RA506"
    name = "host-path-in-dockerfile"
    family = "host-local"
    severity = Severity.MEDIUM
    confidence = Confidence.MEDIUM
    summary = "ENV/ARG/RUN/WORKDIR naming a path of the submitter's machine"
    explanation = (
        "`/home/alice/models/llama`, `/scratch/...`, `/mnt/nfs/...` exist on the machine where the entry was "
        "developed, not in the image (nothing in the Dockerfile creates them) and not on the organizers' "
        "machines: the training or server fails at run time when it reads them."
    )
    fix = "Copy the file into the image from the repository, or download it in the build with a pinned revision."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for target, dockerfile in view.dockerfiles():
            created = created_paths(dockerfile)
            path = target.target.dockerfile
            for ins in dockerfile.of("ENV", "ARG", "RUN", "WORKDIR"):
                text = ins.value + "".join("\n" + doc.body for doc in ins.heredocs)
                for host_path in dict.fromkeys(host_paths(text)):
                    never_linux = NEVER_LINUX.match(host_path) is not None
                    if ins.keyword == "WORKDIR" and not never_linux:
                        continue  # WORKDIR creates the folder; only macOS/Windows paths betray the host
                    if is_created(host_path, created) and not never_linux:
                        continue
                    yield self.finding(
                        f"{ins.keyword} uses {host_path}, a path of the submitter's machine that the image "
                        "does not create",
                        path,
                        ins.line_of(host_path),
                        target=path,
                        severity=Severity.LOW if ins.keyword == "WORKDIR" else None,
                        confidence=Confidence.HIGH if never_linux else None,
                        evidence=host_path,
                    )
