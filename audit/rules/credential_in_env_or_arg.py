"""RA801: ENV / ARG setting a credential-named variable to a literal value."""

from __future__ import annotations

from collections.abc import Iterator

from dockerfile_parse.util import extract_key_values

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.credentials import is_credential_name, is_literal, mask
from audit.views.entry import EntryView


class CredentialInEnvOrArg(Rule):
    id = "RA801"
    name = "credential-in-env-or-arg"
    family = "credential"
    severity = Severity.HIGH
    summary = "ENV/ARG HF_TOKEN=<literal>"
    explanation = (
        "A value set with ENV or ARG is stored in the image's configuration and history: anyone who pulls "
        "the image (or reads the released submission) gets the token. The 2023 starter kit told entrants "
        "to do exactly this with HUGGINGFACE_TOKEN, and many live write tokens were handed to the organizers."
    )
    fix = "Revoke the token, remove it, and pass it at build time with `RUN --mount=type=secret,id=hf_token ...`."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for target, dockerfile in view.dockerfiles():
            path = target.target.dockerfile
            for ins in dockerfile.of("ENV", "ARG"):
                for name, value in _assignments(ins.keyword, ins.rest):
                    if is_credential_name(name) and value is not None and is_literal(value):
                        yield self.finding(
                            f"{ins.keyword} {name} is set to a literal value ({mask(value)}), which is stored in "
                            "the image",
                            path,
                            ins.line_of(name),
                            target=path,
                            evidence=f"{name}={mask(value)}",
                        )


def _assignments(keyword: str, rest: str) -> list[tuple[str, str | None]]:
    if keyword == "ARG":
        pairs: list[tuple[str, str | None]] = []
        for word in rest.split():
            name, eq, value = word.partition("=")
            pairs.append((name, value if eq else None))
        return pairs
    if "=" not in rest.split(None, 1)[0]:
        name, _, value = rest.partition(" ")  # legacy form: ENV NAME value
        return [(name, value)]
    try:
        return list(extract_key_values(env_replace=False, args={}, envs={}, instruction_value=rest))
    except (ValueError, IndexError):
        return [(w.partition("=")[0], w.partition("=")[2]) for w in rest.split() if "=" in w]
