"""RA802 cli-login-with-literal-token: `huggingface-cli login --token <literal>` in a RUN (high).

Also `hf auth login`, `hf login` and `wandb login <key>`. A token taken from a variable, a command
substitution or a secret file is not a literal. The line is the one holding `login`; the message
shows only a masked prefix of the token.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA802"
FROM = "FROM python:3.11\n"
TOKEN = "hf_" + "PLACEHOLDER"
KEY = "k" * 6 + "0" * 6


@pytest.mark.parametrize(
    ("body", "line", "program", "secret"),
    [
        pytest.param(f"RUN huggingface-cli login --token {TOKEN}\n", 2, "huggingface-cli", TOKEN, id="cli"),
        pytest.param(f"RUN huggingface-cli login --token={TOKEN}\n", 2, "huggingface-cli", TOKEN, id="token-equals"),
        pytest.param(f"RUN huggingface-cli login --token '{TOKEN}'\n", 2, "huggingface-cli", TOKEN, id="quoted"),
        pytest.param(
            f"RUN huggingface-cli login --add-to-git-credential --token {TOKEN}\n",
            2,
            "huggingface-cli",
            TOKEN,
            id="after-other-flag",
        ),
        pytest.param(f"RUN hf auth login --token {TOKEN}\n", 2, "hf", TOKEN, id="hf-auth-login"),
        pytest.param(f"RUN hf login --token {TOKEN}\n", 2, "hf", TOKEN, id="hf-login"),
        pytest.param(f"RUN wandb login {KEY}\n", 2, "wandb", KEY, id="wandb"),
        pytest.param(f"RUN wandb login --relogin {KEY}\n", 2, "wandb", KEY, id="wandb-relogin"),
        pytest.param(
            f"RUN wandb login --host https://wandb.example.org --relogin {KEY}\n", 2, "wandb", KEY, id="wandb-host"
        ),
        pytest.param(f"RUN wandb login --base-url=https://wandb.example.org {KEY}\n", 2, "wandb", KEY, id="wandb-url="),
        pytest.param(f"RUN wandb login --anonymously --cloud {KEY}\n", 2, "wandb", KEY, id="wandb-flags"),
        pytest.param(
            f"RUN pip install huggingface_hub==0.19.4 && \\\n    huggingface-cli login --token {TOKEN}\n",
            3,
            "huggingface-cli",
            TOKEN,
            id="continuation-line",
        ),
        pytest.param(
            f"RUN <<EOF\nset -e\nhuggingface-cli login --token {TOKEN}\nEOF\n",
            4,
            "huggingface-cli",
            TOKEN,
            id="heredoc",
        ),
    ],
)
def test_catches(tmp_path: Path, body: str, line: int, program: str, secret: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, "Dockerfile", line, Severity.HIGH, "Dockerfile")
    ]
    finding = findings[0]
    assert f"{program} login passes a literal token" in finding.message
    assert secret not in finding.message
    assert finding.evidence is not None and secret not in finding.evidence


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("RUN huggingface-cli login --token $HF_TOKEN\n", id="variable"),
        pytest.param('RUN huggingface-cli login --token "${HF_TOKEN}"\n', id="quoted-braced-variable"),
        pytest.param(
            "RUN --mount=type=secret,id=hf huggingface-cli login --token $(cat /run/secrets/hf)\n",
            id="command-substitution",
        ),
        pytest.param("RUN huggingface-cli login\n", id="no-token"),
        pytest.param("RUN huggingface-cli whoami\n", id="other-subcommand"),
        pytest.param(f"RUN huggingface-cli download org/m --token {TOKEN}\n", id="download-is-not-login"),
        pytest.param("RUN wandb login\n", id="wandb-no-key"),
        pytest.param("RUN wandb login $WANDB_API_KEY\n", id="wandb-variable"),
        pytest.param("RUN wandb login --host https://wandb.example.org\n", id="wandb-host-no-key"),
        pytest.param("RUN huggingface-cli login --token --add-to-git-credential\n", id="token-without-value"),
        pytest.param(f"RUN echo huggingface-cli login --token {TOKEN}\n", id="echo"),
        pytest.param(f"# RUN huggingface-cli login --token {TOKEN}\n", id="comment"),
        pytest.param(f"CMD huggingface-cli login --token {TOKEN}\n", id="cmd-is-not-a-run"),
    ],
)
def test_does_not_catch(tmp_path: Path, body: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + body}, RULE) == []


def test_wandb_host_option_value_is_not_a_token(tmp_path: Path) -> None:
    body = "RUN wandb login --host https://wandb.example.org $WANDB_API_KEY\n"
    assert caught(tmp_path, {"Dockerfile": FROM + body}, RULE) == []
