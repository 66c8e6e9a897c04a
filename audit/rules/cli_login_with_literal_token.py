"""RA802: `huggingface-cli login --token <literal>` (and `wandb login <key>`) in a RUN."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.credentials import is_literal, mask
from audit.views.entry import EntryView


class CliLoginWithLiteralToken(Rule):
    id = "RA802"
    name = "cli-login-with-literal-token"
    family = "credential"
    severity = Severity.HIGH
    summary = "huggingface-cli login --token <literal>"
    explanation = (
        "The RUN line, token included, is recorded in the image history (`docker history`) and the token is "
        "also written to the image's Hugging Face cache: both ship with the image and the submission."
    )
    fix = "Revoke the token; use `RUN --mount=type=secret,id=hf_token HF_TOKEN=$(cat /run/secrets/hf_token) ...`."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for target, dockerfile in view.dockerfiles():
            path = target.target.dockerfile
            for step, cmd in dockerfile.commands():
                token = _login_token(cmd.program, cmd.argv[1:])
                if token is not None and is_literal(token):
                    yield self.finding(
                        f"{cmd.program} login passes a literal token ({mask(token)}) that is stored in the image history",
                        path,
                        step.instruction.line_of("login"),
                        target=path,
                        evidence=f"{cmd.program} login ... {mask(token)}",
                    )


def _login_token(program: str, args: list[str]) -> str | None:
    if (program in ("huggingface-cli", "hf") and args[:1] == ["login"]) or (
        program in ("hf",) and args[:2] == ["auth", "login"]
    ):
        for number, word in enumerate(args):
            if word == "--token" and number + 1 < len(args):
                return args[number + 1]
            if word.startswith("--token="):
                return word.split("=", 1)[1]
    if program == "wandb" and args[:1] == ["login"]:
        keys = [w for w in args[1:] if not w.startswith("-")]
        return keys[0] if keys else None
    return None
