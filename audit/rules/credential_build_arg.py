"""RA803: a credential passed as a build ARG (no default) and used by a RUN: it lands in the history."""

from __future__ import annotations

import re
from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.credentials import is_credential_name
from audit.views.entry import EntryView


class CredentialBuildArg(Rule):
    id = "RA803"
    name = "credential-build-arg"
    family = "credential"
    severity = Severity.LOW
    summary = "ARG HF_TOKEN (no default) used by RUN"
    explanation = (
        "A value given with `--build-arg HF_TOKEN=...` is recorded in the image history of every RUN that "
        "sees it, so the token ships with the image even though the Dockerfile holds no literal."
    )
    fix = "Use a build secret: `RUN --mount=type=secret,id=hf_token ...` and `docker build --secret id=hf_token,...`."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for target, dockerfile in view.dockerfiles():
            path = target.target.dockerfile
            run_text = "\n".join(step.instruction.value for step in dockerfile.runs())
            for ins in dockerfile.of("ARG"):
                for word in ins.rest.split():
                    name, eq, _value = word.partition("=")
                    if eq or not is_credential_name(name):
                        continue
                    if re.search(rf"\${{?{re.escape(name)}\b", run_text):
                        yield self.finding(
                            f"build argument {name} is used by RUN, so the value passed with --build-arg is "
                            "recorded in the image history",
                            path,
                            ins.start,
                            target=path,
                            evidence=name,
                        )
