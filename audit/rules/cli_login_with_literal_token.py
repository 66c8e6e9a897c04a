"""RA802: `huggingface-cli login --token <literal>` (and `wandb login <key>`) in a RUN."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Finding, Severity
from audit.rules.base import Rule
from audit.rules.credentials import is_literal, mask
from audit.views.entry import EntryView

# `wandb login [OPTIONS] [KEY]`: --host/--base-url take a URL; --cloud, --relogin, --anonymously and
# --verify/--no-verify are flags
WANDB_LOGIN_VALUE_OPTIONS = frozenset({"--host", "--base-url"})


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
            if word == "--token" and number + 1 < len(args) and not args[number + 1].startswith("-"):
                return args[number + 1]
            if word.startswith("--token="):
                return word.split("=", 1)[1]
    if program == "wandb" and args[:1] == ["login"]:
        return _first_positional(args[1:], WANDB_LOGIN_VALUE_OPTIONS)
    return None


def _first_positional(args: list[str], value_options: frozenset[str]) -> str | None:
    """The first argument that is neither an option nor an option's value."""
    skip = False
    for number, word in enumerate(args):
        if skip:
            skip = False
        elif word == "--":
            return args[number + 1] if number + 1 < len(args) else None
        elif word in value_options:
            skip = True
        elif not word.startswith("-"):
            return word
    return None
