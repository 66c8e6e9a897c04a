"""RA803 credential-build-arg: a credential ARG without default that a RUN uses (low).

The value given with `--build-arg` is recorded in the history of every RUN that sees it. An ARG with
a default is RA801; an ARG no RUN mentions, a name that only starts like the ARG (`$HF_TOKEN_FILE`)
and build secrets (`RUN --mount=type=secret`) are not reported. The finding is on the ARG line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA803"
FROM = "FROM python:3.11\n"


@pytest.mark.parametrize(
    ("body", "line", "name"),
    [
        pytest.param("ARG HF_TOKEN\nRUN huggingface-cli login --token $HF_TOKEN\n", 2, "HF_TOKEN", id="dollar"),
        pytest.param("ARG HF_TOKEN\nRUN python download.py --token ${HF_TOKEN}\n", 2, "HF_TOKEN", id="braces"),
        pytest.param(
            "ARG WANDB_API_KEY\nRUN WANDB_API_KEY=$WANDB_API_KEY python train.py\n", 2, "WANDB_API_KEY", id="wandb"
        ),
        pytest.param(
            "ARG HF_TOKEN\nRUN echo start\nRUN pip install x==1 && \\\n    python dl.py $HF_TOKEN\n",
            2,
            "HF_TOKEN",
            id="later-continued-run",
        ),
        pytest.param("ARG BASE=1 GITHUB_TOKEN\nRUN git clone https://$GITHUB_TOKEN@github.com/a/b\n", 2,
                     "GITHUB_TOKEN", id="second-name-of-arg"),
        pytest.param("RUN echo hi\nARG HF_TOKEN\nRUN echo ${HF_TOKEN:-none}\n", 3, "HF_TOKEN", id="with-fallback"),
    ],
)  # fmt: skip
def test_catches(tmp_path: Path, body: str, line: int, name: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, "Dockerfile", line, Severity.LOW, "Dockerfile")
    ]
    assert f"build argument {name} is used by RUN" in findings[0].message
    assert "image history" in findings[0].message


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("ARG HF_TOKEN\nRUN echo hi\n", id="unused"),
        pytest.param("ARG HF_TOKEN=x\nRUN echo $HF_TOKEN\n", id="default-is-ra801"),
        pytest.param("ARG HF_HOME\nRUN echo $HF_HOME\n", id="not-a-credential"),
        pytest.param("ARG MAX_TOKENS\nRUN echo $MAX_TOKENS\n", id="max-tokens"),
        pytest.param("ARG HF_TOKEN\nRUN echo $HF_TOKEN_FILE\n", id="longer-name"),
        pytest.param("ARG HF_TOKEN\nENV HF_TOKEN=$HF_TOKEN\n", id="used-by-env-only"),
        pytest.param("ARG HF_TOKEN\nCMD echo $HF_TOKEN\n", id="used-by-cmd-only"),
        pytest.param("ARG HF_TOKEN\nRUN echo HF_TOKEN\n", id="name-without-dollar"),
        pytest.param("RUN --mount=type=secret,id=hf_token cat /run/secrets/hf_token\n", id="secret-mount"),
    ],
)
def test_does_not_catch(tmp_path: Path, body: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + body}, RULE) == []
